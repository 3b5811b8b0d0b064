// Each resource breaks exactly the policy named in expected.json; nothing here is deployed.

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: 'evgt-test'
}

var queueId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb/queues/q'
var storageId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st'

// Delivery to Service Bus without an identity: Event Grid would need the namespace's keys.
resource subPlainDestination 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'plain-destination'
  properties: {
    destination: {
      endpointType: 'ServiceBusQueue'
      properties: {
        resourceId: queueId
        deliveryAttributeMappings: [
          {
            name: 'MessageId'
            type: 'Dynamic'
            properties: {
              sourceField: 'id'
            }
          }
        ]
      }
    }
  }
}

// Identity delivery, but dead letters written with the storage account key.
resource subKeyedDeadLetter 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'keyed-dead-letter'
  properties: {
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: queueId
          deliveryAttributeMappings: [
            {
              name: 'MessageId'
              type: 'Dynamic'
              properties: {
                sourceField: 'id'
              }
            }
          ]
        }
      }
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: storageId
        blobContainerName: 'dead'
      }
    }
  }
}

// SessionId mapped: Event Grid then cannot set MessageId, duplicate detection is blind.
resource subSessionId 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'session-id'
  properties: {
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: queueId
          deliveryAttributeMappings: [
            {
              name: 'SessionId'
              type: 'Dynamic'
              properties: {
                sourceField: 'data.correlationId'
              }
            }
          ]
        }
      }
    }
  }
}

// No MessageId mapping at all.
resource subNoMessageId 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'no-message-id'
  properties: {
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: queueId
        }
      }
    }
  }
}

// A static MessageId would make every event a duplicate of the first.
resource subStaticMessageId 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'static-message-id'
  properties: {
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusTopic'
        properties: {
          resourceId: queueId
          deliveryAttributeMappings: [
            {
              name: 'MessageId'
              type: 'Static'
              properties: {
                value: 'always-the-same'
              }
            }
          ]
        }
      }
    }
  }
}
