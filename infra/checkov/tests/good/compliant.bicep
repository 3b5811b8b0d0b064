// Compliant variants of resource shapes the real templates do not use, so every custom policy is
// also seen passing on something other than infra/ itself. Nothing here is deployed.

var environmentId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/cae'
var identityId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id'
var topicId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb/topics/t'

resource redisClassic 'Microsoft.Cache/redis@2024-11-01' = {
  name: 'redis-classic-ok'
  location: 'westeurope'
  properties: {
    sku: {
      name: 'Standard'
      family: 'C'
      capacity: 0
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    disableAccessKeyAuthentication: true
    publicNetworkAccess: 'Disabled'
    redisConfiguration: {
      'aad-enabled': 'true'
    }
  }
}

resource customTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: 'egt-test'
}

// A webhook cannot use a resource identity; the policy leaves it alone.
resource webhookSubscription 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = {
  parent: customTopic
  name: 'to-webhook'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://example.com/api/events'
      }
    }
  }
}

resource serviceBusTopicSubscription 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = {
  parent: customTopic
  name: 'to-servicebus-topic'
  properties: {
    deliveryWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identityId
      }
      destination: {
        endpointType: 'ServiceBusTopic'
        properties: {
          resourceId: topicId
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
}

resource appStorageQueue 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'storage-queue-ok'
  location: 'westeurope'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      secrets: [
        {
          name: 'api-key'
          keyVaultUrl: 'https://kv.vault.azure.net/secrets/api-key'
          identity: identityId
        }
      ]
      registries: [
        {
          server: 'example.azurecr.io'
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'app'
          image: 'example.azurecr.io/app:1'
          env: [
            {
              name: 'PARTNER_API_KEY'
              secretRef: 'api-key'
            }
            {
              name: 'LOG_LEVEL'
              value: 'info'
            }
          ]
        }
      ]
      scale: {
        rules: [
          {
            name: 'queue'
            azureQueue: {
              accountName: 'stexample'
              queueName: 'work'
              queueLength: 10
              identity: identityId
            }
          }
        ]
      }
    }
  }
}

resource jobServiceBus 'Microsoft.App/jobs@2025-01-01' = {
  name: 'job-servicebus-ok'
  location: 'westeurope'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      triggerType: 'Event'
      replicaTimeout: 60
      eventTriggerConfig: {
        scale: {
          rules: [
            {
              name: 'queue'
              type: 'azure-servicebus'
              identity: identityId
              metadata: {
                namespace: 'sb'
                queueName: 'q'
              }
            }
          ]
        }
      }
    }
    template: {
      containers: [
        {
          name: 'job'
          image: 'example.azurecr.io/app:1'
        }
      ]
    }
  }
}
