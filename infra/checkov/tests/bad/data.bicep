// Each resource breaks exactly the policy named in expected.json; nothing here is deployed.

resource redisOldTls 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: 'redis-old-tls'
  location: 'westeurope'
  sku: {
    name: 'Balanced_B0'
  }
  properties: {
    minimumTlsVersion: '1.0'
    publicNetworkAccess: 'Enabled'
  }
}

resource redisDbPlaintext 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: redisOldTls
  name: 'plaintext'
  properties: {
    clientProtocol: 'Plaintext'
    accessKeysAuthentication: 'Disabled'
  }
}

resource redisDbAccessKeys 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: redisOldTls
  name: 'keys'
  properties: {
    clientProtocol: 'Encrypted'
    accessKeysAuthentication: 'Enabled'
  }
}

resource redisClassicNonSsl 'Microsoft.Cache/redis@2024-11-01' = {
  name: 'redis-classic-nonssl'
  location: 'westeurope'
  properties: {
    sku: {
      name: 'Standard'
      family: 'C'
      capacity: 0
    }
    enableNonSslPort: true
    minimumTlsVersion: '1.2'
    disableAccessKeyAuthentication: true
    redisConfiguration: {
      'aad-enabled': 'true'
    }
  }
}

resource redisClassicKeys 'Microsoft.Cache/redis@2024-11-01' = {
  name: 'redis-classic-keys'
  location: 'westeurope'
  properties: {
    sku: {
      name: 'Standard'
      family: 'C'
      capacity: 0
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    disableAccessKeyAuthentication: false
  }
}

resource kvAccessPolicies 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-access-policies'
  location: 'westeurope'
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: false
    accessPolicies: []
  }
}

resource acsKeys 'Microsoft.Communication/communicationServices@2025-09-01' = {
  name: 'acs-keys'
  location: 'global'
  properties: {
    dataLocation: 'United States'
  }
}

resource storageSharedKey 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stsharedkey'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: {
    name: 'Standard_GRS'
  }
  properties: {
    allowSharedKeyAccess: true
    minimumTlsVersion: 'TLS1_2'
  }
}
