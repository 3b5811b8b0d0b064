// The two Switchboard container apps. One image, two roles, chosen by the container args:
//
//   worker   `switchboard worker`   no ingress; consumes incoming-calls and call-events from
//            Service Bus, drives Call Automation, keeps shared state in Redis. Probes hit the
//            metrics listener (SWITCHBOARD_METRICS_PORT, /healthz). Scaled by KEDA on the length
//            of both queues, authenticated with the scaler identity (never a connection string).
//   ingress  `switchboard ingress`  external HTTPS; verifies Call Automation callback JWTs on
//            POST /api/callbacks and publishes them to call-events. Probes: GET /healthz
//            (liveness), GET /readyz (readiness). Scaled on concurrent HTTP requests.
//
// The container args and environment variable names below are the contract with the binary
// (crates/switchboard-worker/src/config/env.rs, ENV_VARS); a test compares the two. Every variable
// is always present; an empty value means "not set" to the binary. Secret-bearing values come
// from Key Vault references (secretRef), never inline. Telemetry (traces, metrics, logs) goes
// over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, by default the collector app
// (otel-collector.bicep), which alone holds the Application Insights connection string.

@description('Azure region for the apps.')
param location string

@description('Tags applied to both apps (azd-service-name is added per app).')
param tags object

@description('Resource id of the Container Apps environment.')
param environmentId string

@description('Name of the worker container app (2-32 lowercase letters, digits, dashes).')
@minLength(2)
@maxLength(32)
param workerAppName string

@description('Name of the ingress container app (2-32 lowercase letters, digits, dashes).')
@minLength(2)
@maxLength(32)
param ingressAppName string

@description('Image the worker runs.')
param workerImage string

@description('Image the ingress runs.')
param ingressImage string

@description('The worker runs the placeholder image (first provision, before `azd deploy`): it serves HTTP on port 80 only, so the probes go there.')
param workerPlaceholder bool = false

@description('The ingress runs the placeholder image: ingress target port and probes on port 80, path /.')
param ingressPlaceholder bool = false

@description('Hash of the worker configuration. Set as a revision-scoped env var so that a configuration change (a Key Vault secret, which does not itself create a revision) rolls a new revision that reads it.')
param configRevision string

@description('Azure AI services endpoint for Call Automation speech (cognitiveServicesEndpoint).')
param cognitiveServicesEndpoint string = ''

@description('Login server of the registry the apps pull from.')
param registryServer string

@description('Resource id of the worker identity.')
param workerIdentityId string

@description('Client id of the worker identity.')
param workerClientId string

@description('Resource id of the ingress identity.')
param ingressIdentityId string

@description('Client id of the ingress identity.')
param ingressClientId string

@description('Resource id of the identity the KEDA Service Bus scale rules authenticate with.')
param scalerIdentityId string

@description('Service Bus namespace name (short form, for KEDA).')
param serviceBusNamespaceName string

@description('Fully qualified Service Bus namespace, e.g. sb-x.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string

@description('Queue receiving IncomingCall from Event Grid.')
param incomingQueueName string

@description('Queue receiving Call Automation callbacks from the ingress.')
param eventsQueueName string

@description('Redis URL for the worker: rediss://<object id>@<host>:<port>, no password.')
param redisUrl string

@description('Call Automation endpoint, https://<acs>.communication.azure.com.')
param acsEndpoint string

@description('ACS immutable resource id (JWT audience of callbacks).')
param acsImmutableResourceId string

@description('Public callback URL the worker gives Call Automation (ingress URL + /api/callbacks).')
param callbackUrl string

@description('Entra tenant of the Teams agents, for Microsoft Graph presence. Empty: Graph disabled.')
param graphTenantId string = ''

@description('OTLP/HTTP endpoint for traces, metrics and logs: the collector app (which forwards them to Application Insights), or one the deployer chose.')
param otlpEndpoint string

@description('Versionless Key Vault URL of the worker configuration (TOML).')
param configSecretUri string

@description('Minimum worker replicas. 0 allows scale to zero, but a cold start plus the KEDA polling interval can exceed the ~30 s an incoming call rings.')
@minValue(0)
@maxValue(300)
param workerMinReplicas int = 1

@description('Maximum worker replicas.')
@minValue(1)
@maxValue(300)
param workerMaxReplicas int = 10

@description('worker.concurrency of the worker configuration: units of work one replica handles at once (infra/validate.py checks the two agree).')
@minValue(2)
param workerConcurrency int = 64

@description('worker.incoming_reserved of the worker configuration: of workerConcurrency, the slots only IncomingCall may use.')
@minValue(1)
param workerIncomingReserved int = 2

@description('Seconds between KEDA queue-length polls (short: a ringing call cannot wait long).')
@minValue(5)
@maxValue(300)
param workerPollingIntervalSeconds int = 10

@description('Minimum ingress replicas. Keep at least 1: ACS expects callbacks to be accepted promptly.')
@minValue(0)
@maxValue(300)
param ingressMinReplicas int = 1

@description('Maximum ingress replicas.')
@minValue(1)
@maxValue(300)
param ingressMaxReplicas int = 10

@description('Concurrent HTTP requests per ingress replica before scaling out.')
@minValue(1)
param ingressConcurrentRequests int = 50

@description('vCPU per worker replica (0.25 steps; memory must be 2 GiB per vCPU).')
param workerCpu string = '0.5'

@description('Memory per worker replica.')
param workerMemory string = '1Gi'

@description('vCPU per ingress replica.')
param ingressCpu string = '0.25'

@description('Memory per ingress replica.')
param ingressMemory string = '0.5Gi'

// Ports and paths the binary listens on (see the issue's contract and the crate docs).
// KEDA per-replica targets, derived from what one replica can hold. The azure-servicebus
// scaler divides a queue's active messages by `messageCount` to get the replicas it wants:
//   call-events     one waiting callback stands for one call that needs a session, and a
//                   replica holds (concurrency - incoming_reserved) sessions;
//   incoming-calls  a replica takes incoming_reserved IncomingCalls at once no matter how busy
//                   its sessions are (the reserved slots), so that many waiting per replica.
// KEDA takes the larger of the two rules. There is no pool-wide "calls in progress" signal:
// a session in progress has no message waiting, and each worker's /scaling is per replica.
var sessionsPerReplica = workerConcurrency - workerIncomingReserved

var ingressPort = 8080
var metricsPort = 9090
var configDirectory = '/etc/switchboard'
var configFileName = 'switchboard.toml'
var configSecretName = 'switchboard-config'
// Where the probes go: the binary's listeners, or the placeholder's port 80.
var workerProbePort = workerPlaceholder ? 80 : metricsPort
var workerHealthPath = workerPlaceholder ? '/' : '/healthz'
var ingressTargetPort = ingressPlaceholder ? 80 : ingressPort
var ingressHealthPath = ingressPlaceholder ? '/' : '/healthz'
var ingressReadyPath = ingressPlaceholder ? '/' : '/readyz'

resource worker 'Microsoft.App/containerApps@2025-01-01' = {
  name: workerAppName
  location: location
  tags: union(tags, {
    'azd-service-name': 'worker'
  })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${workerIdentityId}': {}
      '${scalerIdentityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      // The scaler identity is for KEDA only: 'None' keeps it out of the container.
      identitySettings: [
        {
          identity: workerIdentityId
          lifecycle: 'All'
        }
        {
          identity: scalerIdentityId
          lifecycle: 'None'
        }
      ]
      registries: [
        {
          server: registryServer
          identity: workerIdentityId
        }
      ]
      secrets: [
        {
          name: configSecretName
          keyVaultUrl: configSecretUri
          identity: workerIdentityId
        }
      ]
    }
    template: {
      // SIGTERM first; the worker drains in-flight messages for up to worker.grace_period_secs (20).
      terminationGracePeriodSeconds: 30
      containers: [
        {
          name: 'worker'
          image: workerImage
          args: [
            'worker'
          ]
          env: [
            {
              name: 'SWITCHBOARD_CONFIG'
              value: '${configDirectory}/${configFileName}'
            }
            {
              name: 'SWITCHBOARD_QUEUE'
              value: 'servicebus'
            }
            {
              name: 'SWITCHBOARD_SERVICEBUS_NAMESPACE'
              value: serviceBusFullyQualifiedNamespace
            }
            {
              name: 'SWITCHBOARD_SERVICEBUS_QUEUE'
              value: eventsQueueName
            }
            {
              name: 'SWITCHBOARD_STORE'
              value: 'redis'
            }
            {
              name: 'SWITCHBOARD_REDIS_URL'
              value: redisUrl
            }
            {
              name: 'SWITCHBOARD_ACS_ENDPOINT'
              value: acsEndpoint
            }
            {
              name: 'SWITCHBOARD_ACS_RESOURCE_ID'
              value: acsImmutableResourceId
            }
            {
              name: 'SWITCHBOARD_CALLBACK_URL'
              value: callbackUrl
            }
            {
              name: 'SWITCHBOARD_GRAPH_TENANT_ID'
              value: graphTenantId
            }
            {
              name: 'SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT'
              value: cognitiveServicesEndpoint
            }
            {
              // Not read by the binary: changing it is what creates the new revision.
              name: 'SWITCHBOARD_CONFIG_REVISION'
              value: configRevision
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: workerClientId
            }
            {
              name: 'OTEL_EXPORTER_OTLP_ENDPOINT'
              value: otlpEndpoint
            }
            {
              name: 'SWITCHBOARD_LOG_JSON'
              value: 'true'
            }
            {
              name: 'SWITCHBOARD_METRICS_PORT'
              value: string(metricsPort)
            }
          ]
          resources: {
            cpu: json(workerCpu)
            memory: workerMemory
          }
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: workerHealthPath
                port: workerProbePort
              }
              // Up to 30 s to start (failureThreshold may not exceed 10).
              periodSeconds: 3
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: {
                path: workerHealthPath
                port: workerProbePort
              }
              periodSeconds: 10
              timeoutSeconds: 2
              failureThreshold: 3
            }
          ]
          volumeMounts: [
            {
              volumeName: 'config'
              mountPath: configDirectory
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: configSecretName
              path: configFileName
            }
          ]
        }
      ]
      scale: {
        minReplicas: workerMinReplicas
        maxReplicas: workerMaxReplicas
        pollingInterval: workerPollingIntervalSeconds
        cooldownPeriod: 300
        rules: [
          {
            name: 'incoming-calls'
            custom: {
              type: 'azure-servicebus'
              identity: scalerIdentityId
              metadata: {
                namespace: serviceBusNamespaceName
                queueName: incomingQueueName
                messageCount: string(workerIncomingReserved)
              }
            }
          }
          {
            name: 'call-events'
            custom: {
              type: 'azure-servicebus'
              identity: scalerIdentityId
              metadata: {
                namespace: serviceBusNamespaceName
                queueName: eventsQueueName
                messageCount: string(sessionsPerReplica)
              }
            }
          }
        ]
      }
    }
  }
}

resource ingress 'Microsoft.App/containerApps@2025-01-01' = {
  name: ingressAppName
  location: location
  tags: union(tags, {
    'azd-service-name': 'ingress'
  })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${ingressIdentityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: ingressTargetPort
        transport: 'auto'
        allowInsecure: false
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
      registries: [
        {
          server: registryServer
          identity: ingressIdentityId
        }
      ]
    }
    template: {
      terminationGracePeriodSeconds: 15
      containers: [
        {
          name: 'ingress'
          image: ingressImage
          args: [
            'ingress'
          ]
          env: [
            {
              name: 'SWITCHBOARD_QUEUE'
              value: 'servicebus'
            }
            {
              name: 'SWITCHBOARD_SERVICEBUS_NAMESPACE'
              value: serviceBusFullyQualifiedNamespace
            }
            {
              name: 'SWITCHBOARD_SERVICEBUS_QUEUE'
              value: eventsQueueName
            }
            {
              name: 'SWITCHBOARD_ACS_RESOURCE_ID'
              value: acsImmutableResourceId
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: ingressClientId
            }
            {
              name: 'OTEL_EXPORTER_OTLP_ENDPOINT'
              value: otlpEndpoint
            }
            {
              name: 'SWITCHBOARD_LOG_JSON'
              value: 'true'
            }
            {
              name: 'SWITCHBOARD_INGRESS_PORT'
              value: string(ingressPort)
            }
          ]
          resources: {
            cpu: json(ingressCpu)
            memory: ingressMemory
          }
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: ingressHealthPath
                port: ingressTargetPort
              }
              // Up to 30 s to start (failureThreshold may not exceed 10).
              periodSeconds: 3
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: {
                path: ingressHealthPath
                port: ingressTargetPort
              }
              periodSeconds: 10
              timeoutSeconds: 2
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: ingressReadyPath
                port: ingressTargetPort
              }
              periodSeconds: 5
              timeoutSeconds: 2
              failureThreshold: 2
            }
          ]
        }
      ]
      scale: {
        minReplicas: ingressMinReplicas
        maxReplicas: ingressMaxReplicas
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(ingressConcurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
}

@description('Public HTTPS host of the ingress app.')
output ingressFqdn string = ingress.properties.configuration.ingress.fqdn

@description('Name of the worker app.')
output workerAppName string = worker.name

@description('Name of the ingress app.')
output ingressAppName string = ingress.name
