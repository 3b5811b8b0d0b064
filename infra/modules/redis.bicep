// Azure Managed Redis (Microsoft.Cache/redisEnterprise): the shared store for reservations, call
// state and idempotency markers that every worker replica sees. TLS only, access keys disabled:
// the worker signs in with Entra ID (AUTH <object id> <token for https://redis.azure.com>), so
// the URL the worker gets carries the identity's object id as user name and no password.
// EnterpriseCluster presents the database as a single endpoint, so clients need no cluster mode.

@description('Cluster name: 1-60 letters, digits and dashes.')
@minLength(1)
@maxLength(60)
param name string

@description('Azure region for the cache (Azure Managed Redis is not offered in every region).')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Azure Managed Redis SKU. Balanced_B0 (0.5 GB) holds far more call state than a contact centre produces.')
@allowed([
  'Balanced_B0'
  'Balanced_B1'
  'Balanced_B3'
  'Balanced_B5'
  'Balanced_B10'
  'MemoryOptimized_M10'
  'ComputeOptimized_X3'
])
param skuName string = 'Balanced_B0'

@description('Replicate the data set (needed for the availability SLA; doubles the price).')
param highAvailability bool = true

@description('Principal id of the worker identity (data access through the "default" access policy).')
param workerPrincipalId string

@description('Optional principal (developer / live-test runner) also given data access. Empty: nobody.')
param operatorPrincipalId string = ''

var databasePort = 10000

resource cluster 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: highAvailability ? 'Enabled' : 'Disabled'
    // No VNet in the consumption environment: reachable publicly, TLS and Entra ID only.
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: databasePort
    clusteringPolicy: 'EnterpriseCluster'
    // Reservations must never be evicted silently; a full cache should fail loudly instead.
    evictionPolicy: 'NoEviction'
    accessKeysAuthentication: 'Disabled'
  }
}

// Assignment names: 1-60 letters and digits (no dashes), stable per principal.
resource workerAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = {
  parent: database
  name: 'worker${uniqueString(workerPrincipalId)}'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: workerPrincipalId
    }
  }
}

resource operatorAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = if (!empty(operatorPrincipalId)) {
  parent: database
  name: 'operator${uniqueString(operatorPrincipalId)}'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: operatorPrincipalId
    }
  }
  dependsOn: [
    workerAccess
  ]
}

@description('Host name of the cache.')
output hostName string = cluster.properties.hostName

@description('TLS port of the database.')
output port int = databasePort

@description('URL for the worker (SWITCHBOARD_REDIS_URL): TLS, the worker identity object id as user name, no password (Entra token at connect time).')
output workerUrl string = 'rediss://${workerPrincipalId}@${cluster.properties.hostName}:${databasePort}'
