// Service Bus: the two queues every Switchboard event travels through.
//
//   incoming-calls  Event Grid -> worker. Microsoft.Communication.IncomingCall only.
//                   NOT session-enabled, by choice. Event Grid can deliver to a session-enabled
//                   queue (the subscription then maps a SessionId delivery property), but a
//                   session buys nothing here: there is one IncomingCall per call, so there is
//                   no order to keep, and a session queue would make every worker accept a
//                   session (extra round trips) before it can answer a ringing call. We map
//                   MessageId (= the Event Grid event id) so duplicate detection drops Event
//                   Grid's redeliveries.
//                   Short TTL: an IncomingCall is only answerable while the call rings (~30 s),
//                   after that it is dead-lettered for post-mortem instead of being answered late.
//   call-events     ingress -> worker. Call Automation callbacks (CallConnected, ...).
//                   Session-enabled, session id = the call's correlationId, message id = the
//                   CloudEvent id: one call's events are handled in order by one worker at a
//                   time, and duplicate detection drops ACS's callback retries.
//
// Both: duplicate detection (10 min), 30 s lock, 10 deliveries, dead-letter on expiry.
// Local (SAS) auth is disabled: everything authenticates with Entra ID.

@description('Namespace name: 6-50 characters, globally unique.')
@minLength(6)
@maxLength(50)
param name string

@description('Azure region for the namespace.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Namespace SKU. Standard has sessions and duplicate detection; Premium adds isolation, private endpoints and zone redundancy.')
@allowed([
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Queue Event Grid delivers IncomingCall events to. The worker reads this name from its config (queue.incoming_queue, default incoming-calls).')
param incomingQueueName string = 'incoming-calls'

@description('Queue the ingress publishes callbacks to (SWITCHBOARD_SERVICEBUS_QUEUE).')
param eventsQueueName string = 'call-events'

@description('Queue whose dead letters are the events the ingress refused (queue.rejects_queue, default ingress-rejects). Only the ingress uses it: it sends each refusal and dead-letters it at once with the reason.')
param rejectsQueueName string = 'ingress-rejects'

@description('Time-to-live of an IncomingCall message (ISO 8601). Keep it near the ringing window: a call nobody answered within it is gone.')
param incomingCallsTtl string = 'PT2M'

@description('Time-to-live of a callback message (ISO 8601).')
param callEventsTtl string = 'PT1H'

@description('Principal id of the worker identity: receives from both queues, schedules follow-ups on call-events.')
param workerPrincipalId string

@description('Principal id of the ingress identity: sends to call-events.')
param ingressPrincipalId string

@description('Principal id of the KEDA scaler identity: reads queue runtime properties (needs Manage, i.e. Data Owner, scoped to the queues).')
param scalerPrincipalId string

@description('Optional principal (a developer or the live-test runner) given Data Owner on the namespace for `switchboard dlq` and the live tests. Empty: nobody.')
param operatorPrincipalId string = ''

@description('Type of operatorPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration).
var serviceBusDataOwnerRoleId = '090c5cfd-751d-490a-894a-3ce6f1109419'
var serviceBusDataReceiverRoleId = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var serviceBusDataSenderRoleId = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource sbNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource incomingQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: sbNamespace
  name: incomingQueueName
  properties: {
    requiresSession: false
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    // An IncomingCall rings for 30 s: a worker that crashes holding one must give it back in
    // time for another replica to answer (the worker renews the lock while it works).
    // The shortest lock Service Bus allows. Matches queue.incoming_lock_duration_secs.
    lockDuration: 'PT5S'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: incomingCallsTtl
    deadLetteringOnMessageExpiration: true
    enableBatchedOperations: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: sbNamespace
  name: eventsQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    lockDuration: 'PT30S'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: callEventsTtl
    deadLetteringOnMessageExpiration: true
    enableBatchedOperations: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

// No duplicate detection: every refusal is kept. Dead letters do not expire.
resource rejectsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: sbNamespace
  name: rejectsQueueName
  properties: {
    requiresSession: false
    // The same refused element redelivered by ACS or Event Grid is kept once.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    lockDuration: 'PT30S'
    maxDeliveryCount: 10
    // A reject the ingress could not move to the dead-letter queue itself (it crashed between
    // send and dead-letter) still ends there when it expires.
    defaultMessageTimeToLive: 'P1D'
    deadLetteringOnMessageExpiration: true
    enableBatchedOperations: true
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

// Worker: receive (and settle) on both queues.
resource workerReceivesIncoming 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(incomingQueue.id, workerPrincipalId, serviceBusDataReceiverRoleId)
  scope: incomingQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiverRoleId)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workerReceivesEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, workerPrincipalId, serviceBusDataReceiverRoleId)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiverRoleId)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Worker: send to call-events only, for follow-ups scheduled into the call's own session
// (ringing timeouts, retries after a reservation conflict).
resource workerSendsEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, workerPrincipalId, serviceBusDataSenderRoleId)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSenderRoleId)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Ingress: send to call-events only.
resource ingressSendsEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, ingressPrincipalId, serviceBusDataSenderRoleId)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSenderRoleId)
    principalId: ingressPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Ingress: send to and receive from ingress-rejects (Service Bus takes no sends into a
// dead-letter queue: the ingress receives its own refusal and dead-letters it).
resource ingressSendsRejects 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rejectsQueue.id, ingressPrincipalId, serviceBusDataSenderRoleId)
  scope: rejectsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSenderRoleId)
    principalId: ingressPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource ingressReceivesRejects 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rejectsQueue.id, ingressPrincipalId, serviceBusDataReceiverRoleId)
  scope: rejectsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiverRoleId)
    principalId: ingressPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// KEDA's azure-servicebus scaler reads queue runtime properties through the management API,
// which needs the Manage right: Data Owner, but scoped to the two queues only.
resource scalerReadsIncoming 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(incomingQueue.id, scalerPrincipalId, serviceBusDataOwnerRoleId)
  scope: incomingQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwnerRoleId)
    principalId: scalerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource scalerReadsEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, scalerPrincipalId, serviceBusDataOwnerRoleId)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwnerRoleId)
    principalId: scalerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorOwnsNamespace 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(sbNamespace.id, operatorPrincipalId, serviceBusDataOwnerRoleId)
  scope: sbNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwnerRoleId)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

@description('Namespace name (the KEDA scale rules take the short name).')
output name string = sbNamespace.name

// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (other clouds: other suffixes).
@description('Fully qualified namespace host (SWITCHBOARD_SERVICEBUS_NAMESPACE).')
output fullyQualifiedNamespace string = replace(replace(sbNamespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')

@description('Resource id of the incoming-calls queue (Event Grid destination).')
output incomingQueueId string = incomingQueue.id

@description('Name of the incoming-calls queue.')
output incomingQueueName string = incomingQueue.name

@description('Name of the call-events queue.')
output eventsQueueName string = eventsQueue.name
