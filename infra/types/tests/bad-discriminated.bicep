// expect: property
// Discriminated type: the Service Bus queue destination of an Event Grid subscription has
// `resourceId`, and a property of another endpoint type (`endpointUrl`, webhooks) is refused.
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: 'topic'
}
resource sub 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'sample'
  properties: {
    destination: {
      endpointType: 'ServiceBusQueue'
      properties: {
        resourceId: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb/queues/q'
        endpointUrl: 'https://example.com/hook'
      }
    }
  }
}
