// Grants one principal "Azure Service Bus Data Sender" on one queue. Used for the Event Grid
// system topic's managed identity, which only exists once the topic does (so it cannot be
// passed to servicebus.bicep) and must be allowed to send before the event subscription is
// created with deliveryWithResourceIdentity.

@description('Name of the Service Bus namespace.')
param namespaceName string

@description('Name of the queue.')
param queueName string

@description('Principal id that may send to the queue.')
param principalId string

var serviceBusDataSenderRoleId = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource sbNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: sbNamespace
  name: queueName
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, principalId, serviceBusDataSenderRoleId)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSenderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
