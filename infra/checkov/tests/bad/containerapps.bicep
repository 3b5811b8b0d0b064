// Each resource breaks exactly the policy named in expected.json; nothing here is deployed.

var environmentId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/cae'
var identityId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id'
var secretUrl = 'https://kv.vault.azure.net/secrets/sb-connection'

// A secret value inlined in the template (and so in every revision and deployment history).
resource appInlineSecret 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'inline-secret'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    configuration: {
      secrets: [
        {
          name: 'db-password'
          value: 'hunter2'
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'app'
          image: 'example.azurecr.io/app:1'
        }
      ]
    }
  }
}

// A connection string as a plain environment value.
resource appEnvCredential 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'env-credential'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    template: {
      containers: [
        {
          name: 'app'
          image: 'example.azurecr.io/app:1'
          env: [
            {
              name: 'SWITCHBOARD_SERVICEBUS_CONNECTION_STRING'
              value: 'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v'
            }
          ]
        }
      ]
    }
  }
}

// KEDA authenticated with a connection string (forces SAS auth on the namespace).
resource appKedaConnectionString 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'keda-connection'
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
          name: 'sb-connection'
          keyVaultUrl: secretUrl
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'app'
          image: 'example.azurecr.io/app:1'
        }
      ]
      scale: {
        rules: [
          {
            name: 'queue'
            custom: {
              type: 'azure-servicebus'
              metadata: {
                queueName: 'q'
                messageCount: '5'
              }
              auth: [
                {
                  secretRef: 'sb-connection'
                  triggerParameter: 'connection'
                }
              ]
            }
          }
        ]
      }
    }
  }
}

// KEDA rule for Service Bus with no identity at all.
resource appKedaNoIdentity 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'keda-no-identity'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    template: {
      containers: [
        {
          name: 'app'
          image: 'example.azurecr.io/app:1'
        }
      ]
      scale: {
        rules: [
          {
            name: 'queue'
            custom: {
              type: 'azure-servicebus'
              metadata: {
                namespace: 'sb'
                queueName: 'q'
              }
            }
          }
        ]
      }
    }
  }
}

// Registry pulled with an admin password.
resource appRegistryPassword 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'registry-password'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    configuration: {
      secrets: [
        {
          name: 'acr-password'
          keyVaultUrl: secretUrl
          identity: identityId
        }
      ]
      registries: [
        {
          server: 'example.azurecr.io'
          username: 'example'
          passwordSecretRef: 'acr-password'
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'app'
          image: 'example.azurecr.io/app:1'
        }
      ]
    }
  }
}

// Plain HTTP accepted on the public endpoint.
resource appInsecureIngress 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'insecure-ingress'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    configuration: {
      ingress: {
        external: true
        targetPort: 8080
        allowInsecure: true
      }
    }
    template: {
      containers: [
        {
          name: 'app'
          image: 'example.azurecr.io/app:1'
        }
      ]
    }
  }
}

// An event-driven job whose KEDA rule uses a connection string.
resource jobKedaConnectionString 'Microsoft.App/jobs@2025-01-01' = {
  name: 'job-keda-connection'
  location: 'westeurope'
  properties: {
    environmentId: environmentId
    configuration: {
      triggerType: 'Event'
      replicaTimeout: 60
      secrets: [
        {
          name: 'sb-connection'
          keyVaultUrl: secretUrl
          identity: identityId
        }
      ]
      eventTriggerConfig: {
        scale: {
          rules: [
            {
              name: 'queue'
              type: 'azure-servicebus'
              metadata: {
                queueName: 'q'
              }
              auth: [
                {
                  secretRef: 'sb-connection'
                  triggerParameter: 'connection'
                }
              ]
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
