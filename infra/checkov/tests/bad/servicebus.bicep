// Each resource breaks exactly the policy named in expected.json; nothing here is deployed.

@description('No default: a security setting that only a parameter file decides is not provably secure.')
param allowKeys bool

resource nsLocalAuth 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: 'sb-bad-local-auth'
  location: 'westeurope'
  sku: {
    name: 'Standard'
  }
  properties: {
    disableLocalAuth: false
    minimumTlsVersion: '1.2'
  }
}

resource nsParamAuth 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: 'sb-bad-param-auth'
  location: 'westeurope'
  sku: {
    name: 'Standard'
  }
  properties: {
    disableLocalAuth: allowKeys
    minimumTlsVersion: '1.2'
  }
}

resource nsOldTls 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: 'sb-bad-tls'
  location: 'westeurope'
  sku: {
    name: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.0'
  }
}

resource qNoDedup 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: nsOldTls
  name: 'no-dedup'
  properties: {
    requiresDuplicateDetection: false
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: 10
  }
}

resource qShortWindow 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: nsOldTls
  name: 'short-window'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT20S'
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: 10
  }
}

resource qNoDeadLetter 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: nsOldTls
  name: 'no-dead-letter'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: false
    maxDeliveryCount: 10
  }
}

resource qManyDeliveries 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: nsOldTls
  name: 'many-deliveries'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: 50
  }
}
