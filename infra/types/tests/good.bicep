// The same shapes written correctly: no finding.
param environmentId string
resource app 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'sample'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    template: {
      containers: [
        {
          name: 'main'
          image: 'mcr.microsoft.com/k8se/quickstart:latest'
          env: [
            {
              name: 'SECRET'
              secretRef: 'app-secret'
            }
          ]
        }
      ]
    }
  }
}
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
      }
    }
  }
}
