// The Event Grid system topic of the Communication Services resource. Deployed into the ACS
// resource's own resource group (a system topic lives in its source's subscription, and only one
// may exist per source: to adopt one that already exists, pass its name; this template then adds
// the system-assigned identity it delivers with).
//
// The identity is what deliveryWithResourceIdentity uses: it gets "Azure Service Bus Data Sender"
// on the incoming-calls queue (servicebus-queue-sender.bicep) and "Storage Blob Data Contributor"
// on the dead-letter container (deadletter-storage.bicep), so no SAS key or connection string is
// involved in delivery.

@description('Name of the system topic.')
@minLength(3)
@maxLength(128)
param name string

@description('Tags applied to the topic.')
param tags object

@description('Resource id of the Communication Services resource whose events this topic carries.')
param acsResourceId string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  // ACS is a global resource, so is its system topic.
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: acsResourceId
    topicType: 'Microsoft.Communication.CommunicationServices'
  }
}

@description('Name of the system topic.')
output name string = topic.name

@description('Principal id of the system-assigned identity of the topic.')
output principalId string = topic.identity.principalId
