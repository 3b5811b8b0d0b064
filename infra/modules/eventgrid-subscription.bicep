// IncomingCall -> Service Bus. Deployed next to the system topic (the ACS resource group), after
// the topic identity was granted Data Sender on the queue and Blob Data Contributor on the
// dead-letter container.
//
// Delivery properties (Service Bus brokered-message system properties set by Event Grid):
//   MessageId     <- id          the Event Grid event id. Event Grid keeps the same event across
//                                its own retries, so the queue's duplicate detection drops them.
//   CorrelationId <- data.correlationId   the ACS call correlation id, for tracing/filtering.
//   Label         <- eventType   lets consumers dispatch without parsing the body.
// SessionId is deliberately NOT mapped. Event Grid can deliver to a session-enabled queue when the
// subscription maps a SessionId delivery property, but the IncomingCall queue is a plain queue on
// purpose: one event per call has no order to keep, and accepting a session before each
// IncomingCall would add round trips while the call rings. Duplicate detection on MessageId plus
// the worker's idempotency markers (keyed on the call, not the message) cover redeliveries.
//
// Retry policy: a call rings for about 30 seconds. Event Grid retries after ~10 s and ~30 s, so
// three attempts within one minute is all that can still reach a ringing call; after that the
// event is dead-lettered to blob storage (with the topic identity) instead of retried for hours.

@description('Name of the existing system topic (in this resource group).')
param topicName string

@description('Name of the event subscription.')
@minLength(3)
@maxLength(64)
param name string = 'incoming-calls-to-servicebus'

@description('Resource id of the Service Bus queue that receives IncomingCall events.')
param queueResourceId string

@description('Resource id of the storage account for dead-lettered events.')
param deadLetterStorageAccountId string

@description('Blob container for dead-lettered events.')
param deadLetterContainerName string

@description('Raw ids of the call targets this deployment answers, e.g. 4:+14255550100 for a phone number. At most 25 (Event Grid limit). Empty: every IncomingCall of the ACS resource.')
@maxLength(25)
param targetRawIds array = []

@description('Delivery attempts before dead-lettering.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 3

@description('Minutes an undelivered event is retried before dead-lettering. 1 is the minimum and matches a ringing call.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: topicName
}

resource incomingCalls 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: name
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: queueResourceId
          deliveryAttributeMappings: [
            {
              name: 'MessageId'
              type: 'Dynamic'
              properties: {
                sourceField: 'id'
              }
            }
            {
              name: 'CorrelationId'
              type: 'Dynamic'
              properties: {
                sourceField: 'data.correlationId'
              }
            }
            {
              name: 'Label'
              type: 'Dynamic'
              properties: {
                sourceField: 'eventType'
              }
            }
          ]
        }
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Communication.IncomingCall'
      ]
      enableAdvancedFilteringOnArrays: true
      advancedFilters: empty(targetRawIds) ? [] : [
        {
          operatorType: 'StringIn'
          key: 'data.to.rawId'
          values: targetRawIds
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

@description('Name of the event subscription.')
output name string = incomingCalls.name
