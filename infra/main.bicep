// Switchboard on Azure: everything one `azd up` (or the deploy workflow) provisions.
//
//   caller --> ACS --IncomingCall--> Event Grid system topic --(topic identity)--> Service Bus
//                                                                   queue incoming-calls
//   ACS Call Automation --signed callbacks--> ingress app --(ingress identity)--> queue call-events
//   worker app (KEDA-scaled on both queues) --(worker identity)--> Call Automation, Redis, Graph
//
// Everything authenticates with Entra ID: Service Bus, ACS, Redis, Key Vault and the registry
// have local/key auth disabled; the only connection string (Application Insights ingestion) and
// the worker configuration live in Key Vault and reach the apps as Key Vault references (the
// connection string only the OpenTelemetry collector app, which the apps export to over OTLP).
// Azure AI services (speech for Call Automation) are reached by the ACS resource's identity.
//
// Layout: modules/ holds one file per concern; role assignments live next to the resource they
// grant access to. Names derive from the azd environment name, so a re-run updates in place.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

@description('Name of the azd environment (e.g. dev, prod). Used in the resource group name and to derive globally unique resource names.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region for all regional resources. Must offer Container Apps and Azure Managed Redis.')
param location string

@description('Resource group to create or update. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Resource id of an existing Communication Services resource to use. Empty: create a new one in the resource group.')
param existingAcsResourceId string = ''

@description('Data location of a newly created Communication Services resource, e.g. United States, Europe, UK, Australia, Japan, Canada, Switzerland.')
param acsDataLocation string = 'United States'

@description('Name of the Event Grid system topic of the ACS resource. Set it to the name of the existing one if the ACS resource already has a system topic (only one is allowed per resource); it is adopted, not duplicated.')
param acsSystemTopicName string = ''

@description('Comma-separated call targets this deployment answers: E.164 phone numbers (+14255550100) and/or raw ids (8:acs:...). Event Grid only forwards IncomingCall for these (at most 25). Empty: every IncomingCall of the ACS resource. Keep it in step with acs.numbers in the worker configuration.')
param servedTargets string = ''

@description('Entra tenant id of the Teams agents, to read their presence from Microsoft Graph. Empty: Graph presence disabled. The worker identity also needs the Graph application permissions (infra/teams/grant-graph-permissions.sh).')
param graphTenantId string = ''

@description('OTLP/HTTP endpoint the apps export traces, metrics and logs to. Empty: the OpenTelemetry collector app, which forwards them to Application Insights.')
param otlpEndpoint string = ''

@description('Worker configuration file (TOML) stored in Key Vault and mounted into the worker. Empty: infra/config/switchboard.toml.')
@secure()
param switchboardConfigToml string = ''

@description('Image for the worker app. Empty: keep the image the app already runs (azd deploy sets it), or a placeholder on the very first provision.')
param workerImage string = ''

@description('Image for the ingress app. Empty: keep the image the app already runs, or a placeholder on the very first provision.')
param ingressImage string = ''

@description('Whether the worker app already exists (azd sets SERVICE_WORKER_RESOURCE_EXISTS).')
param workerExists bool = false

@description('Whether the ingress app already exists (azd sets SERVICE_INGRESS_RESOURCE_EXISTS).')
param ingressExists bool = false

@description('Public base URL of the ingress if it is fronted by a custom domain or gateway (no trailing slash). Empty: the Container Apps URL.')
param callbackBaseUrl string = ''

@description('Principal id of whoever deploys (azd sets AZURE_PRINCIPAL_ID): granted AcrPush so `azd deploy` can push the image.')
param principalId string = ''

@description('Type of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Also give principalId data access to Service Bus, ACS and Redis, for `switchboard dlq` and the live tests. Leave off in production.')
param grantOperatorDataAccess bool = false

@description('Service Bus SKU.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Azure Managed Redis SKU.')
@allowed([
  'Balanced_B0'
  'Balanced_B1'
  'Balanced_B3'
  'Balanced_B5'
  'Balanced_B10'
  'MemoryOptimized_M10'
  'ComputeOptimized_X3'
])
param redisSku string = 'Balanced_B0'

@description('Replicate Redis (availability SLA, double price). Turn off only for dev environments.')
param redisHighAvailability bool = true

@description('Container registry SKU.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param registrySku string = 'Standard'

@description('Minimum worker replicas (0 = scale to zero; see apps.bicep for the ringing-window caveat).')
@minValue(0)
@maxValue(300)
param workerMinReplicas int = 1

@description('Maximum worker replicas.')
@minValue(1)
@maxValue(300)
param workerMaxReplicas int = 10

@description('Minimum ingress replicas.')
@minValue(0)
@maxValue(300)
param ingressMinReplicas int = 1

@description('Maximum ingress replicas.')
@minValue(1)
@maxValue(300)
param ingressMaxReplicas int = 10

@description('Key Vault purge protection. Off (default) for dev: `azd down --purge && azd up` can reuse the vault name at once. Turn on for production (irreversible for that vault).')
param keyVaultPurgeProtection bool = false

@description('Give the worker the built-in "Communication and Email Service Owner" role on ACS instead of the least-privilege custom role (fallback only; see modules/acs-access.bicep).')
param acsUseBuiltInOwnerRole bool = false

@description('Days to keep logs in Log Analytics.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// ---------------------------------------------------------------------------------------------
// Names and derived values
// ---------------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'switchboard'
}
var names = {
  resourceGroup: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  logAnalytics: 'log-${token}'
  appInsights: 'appi-${token}'
  workerIdentity: 'id-worker-${token}'
  ingressIdentity: 'id-ingress-${token}'
  scalerIdentity: 'id-scaler-${token}'
  telemetryIdentity: 'id-telemetry-${token}'
  collectorApp: 'ca-otel-${token}'
  registry: 'cr${token}'
  serviceBus: 'sb-${token}'
  acs: 'acs-${token}'
  systemTopic: empty(acsSystemTopicName) ? 'evgt-acs-${token}' : acsSystemTopicName
  deadLetterStorage: 'stdl${token}'
  keyVault: 'kv-${token}'
  aiServices: 'ais-${token}'
  redis: 'redis-${token}'
  environment: 'cae-${token}'
  workerApp: 'ca-worker-${token}'
  ingressApp: 'ca-ingress-${token}'
}

// Where the ACS resource (and therefore its system topic) lives. For a new resource: here.
var createAcs = empty(existingAcsResourceId)
var acsIdParts = split(createAcs ? '/subscriptions/${subscription().subscriptionId}/resourceGroups/${names.resourceGroup}/providers/Microsoft.Communication/communicationServices/${names.acs}' : existingAcsResourceId, '/')
var acsSubscriptionId = acsIdParts[2]
var acsResourceGroupName = acsIdParts[4]
var acsName = acsIdParts[8]

// Event Grid filter values: phone numbers become 4:<E.164>, raw ids pass through.
var servedTargetList = empty(servedTargets) ? [] : split(replace(servedTargets, ' ', ''), ',')
var targetRawIds = [for target in servedTargetList: startsWith(target, '+') ? '4:${target}' : target]

var operatorPrincipalId = grantOperatorDataAccess ? principalId : ''
var configToml = empty(switchboardConfigToml) ? loadTextContent('config/switchboard.toml') : switchboardConfigToml

// Runs until `azd deploy` (or the deploy workflow) puts the real image in place. It serves
// HTTP on port 80 only, so apps.bicep points ingress and probes at port 80 and path / while
// an app runs it (workerPlaceholder / ingressPlaceholder), and at the binary's ports after.
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    retentionInDays: logRetentionInDays
  }
}

module identities 'modules/identities.bicep' = {
  name: 'identities'
  scope: rg
  params: {
    location: location
    tags: tags
    workerIdentityName: names.workerIdentity
    ingressIdentityName: names.ingressIdentity
    scalerIdentityName: names.scalerIdentity
    telemetryIdentityName: names.telemetryIdentity
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: names.registry
    location: location
    tags: tags
    sku: registrySku
    pullPrincipalIds: [
      identities.outputs.workerPrincipalId
      identities.outputs.ingressPrincipalId
    ]
    pushPrincipalId: principalId
    pushPrincipalType: principalType
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    sku: serviceBusSku
    workerPrincipalId: identities.outputs.workerPrincipalId
    ingressPrincipalId: identities.outputs.ingressPrincipalId
    scalerPrincipalId: identities.outputs.scalerPrincipalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: principalType
  }
}

module acs 'modules/acs.bicep' = if (createAcs) {
  name: 'acs'
  scope: rg
  params: {
    name: names.acs
    tags: tags
    dataLocation: acsDataLocation
  }
}

module acsAccess 'modules/acs-access.bicep' = {
  name: 'acs-access-${token}'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    acsName: acsName
    workerPrincipalId: identities.outputs.workerPrincipalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: principalType
    useBuiltInOwnerRole: acsUseBuiltInOwnerRole
  }
  dependsOn: [
    rg
    acs
  ]
}

module aiServices 'modules/ai-services.bicep' = {
  name: 'ai-services'
  scope: rg
  params: {
    name: names.aiServices
    location: location
    tags: tags
    acsPrincipalId: acsAccess.outputs.principalId
  }
}

module eventGridTopic 'modules/eventgrid-topic.bicep' = {
  name: 'eventgrid-topic-${token}'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    name: names.systemTopic
    tags: tags
    acsResourceId: acsAccess.outputs.id
  }
}

module topicSendsToQueue 'modules/servicebus-queue-sender.bicep' = {
  name: 'eventgrid-queue-sender'
  scope: rg
  params: {
    namespaceName: serviceBus.outputs.name
    queueName: serviceBus.outputs.incomingQueueName
    principalId: eventGridTopic.outputs.principalId
  }
}

module deadLetters 'modules/deadletter-storage.bicep' = {
  name: 'deadletter-storage'
  scope: rg
  params: {
    name: names.deadLetterStorage
    location: location
    tags: tags
    writerPrincipalId: eventGridTopic.outputs.principalId
  }
}

module eventGridSubscription 'modules/eventgrid-subscription.bicep' = {
  name: 'eventgrid-subscription-${token}'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    topicName: eventGridTopic.outputs.name
    queueResourceId: serviceBus.outputs.incomingQueueId
    deadLetterStorageAccountId: deadLetters.outputs.accountId
    deadLetterContainerName: deadLetters.outputs.containerName
    targetRawIds: targetRawIds
  }
  // The topic identity must be allowed to send before the subscription validates its destination.
  dependsOn: [
    topicSendsToQueue
  ]
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    appInsightsName: monitoring.outputs.appInsightsName
    switchboardConfigToml: configToml
    workerPrincipalId: identities.outputs.workerPrincipalId
    telemetryPrincipalId: identities.outputs.telemetryPrincipalId
    purgeProtection: keyVaultPurgeProtection
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  scope: rg
  params: {
    name: names.redis
    location: location
    tags: tags
    skuName: redisSku
    highAvailability: redisHighAvailability
    workerPrincipalId: identities.outputs.workerPrincipalId
    operatorPrincipalId: operatorPrincipalId
  }
}

module containerAppsEnvironment 'modules/containerapps-env.bicep' = {
  name: 'containerapps-env'
  scope: rg
  params: {
    name: names.environment
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
  }
}

module workerImageLookup 'modules/existing-image.bicep' = if (workerExists && empty(workerImage)) {
  name: 'worker-image-lookup'
  scope: rg
  params: {
    name: names.workerApp
  }
}

module ingressImageLookup 'modules/existing-image.bicep' = if (ingressExists && empty(ingressImage)) {
  name: 'ingress-image-lookup'
  scope: rg
  params: {
    name: names.ingressApp
  }
}

module collector 'modules/otel-collector.bicep' = {
  name: 'otel-collector'
  scope: rg
  params: {
    name: names.collectorApp
    location: location
    tags: tags
    environmentId: containerAppsEnvironment.outputs.id
    identityId: identities.outputs.telemetryId
    appInsightsSecretUri: keyVault.outputs.appInsightsSecretUri
  }
}

var resolvedWorkerImage = !empty(workerImage) ? workerImage : (workerExists ? workerImageLookup!.outputs.image : placeholderImage)
var resolvedIngressImage = !empty(ingressImage) ? ingressImage : (ingressExists ? ingressImageLookup!.outputs.image : placeholderImage)
// The configuration reaches the worker as a Key Vault secret mounted as a file, and a secret
// change does not create a revision: its hash in a revision-scoped env var does.
var configRevision = uniqueString(configToml)
var ingressBaseUrl = empty(callbackBaseUrl) ? 'https://${names.ingressApp}.${containerAppsEnvironment.outputs.defaultDomain}' : callbackBaseUrl

module apps 'modules/apps.bicep' = {
  name: 'apps'
  scope: rg
  params: {
    location: location
    tags: tags
    environmentId: containerAppsEnvironment.outputs.id
    workerAppName: names.workerApp
    ingressAppName: names.ingressApp
    workerImage: resolvedWorkerImage
    ingressImage: resolvedIngressImage
    workerPlaceholder: resolvedWorkerImage == placeholderImage
    ingressPlaceholder: resolvedIngressImage == placeholderImage
    configRevision: configRevision
    cognitiveServicesEndpoint: aiServices.outputs.endpoint
    registryServer: registry.outputs.loginServer
    workerIdentityId: identities.outputs.workerId
    workerClientId: identities.outputs.workerClientId
    ingressIdentityId: identities.outputs.ingressId
    ingressClientId: identities.outputs.ingressClientId
    scalerIdentityId: identities.outputs.scalerId
    serviceBusNamespaceName: serviceBus.outputs.name
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    incomingQueueName: serviceBus.outputs.incomingQueueName
    eventsQueueName: serviceBus.outputs.eventsQueueName
    redisUrl: redis.outputs.workerUrl
    acsEndpoint: acsAccess.outputs.endpoint
    acsImmutableResourceId: acsAccess.outputs.immutableResourceId
    callbackUrl: '${ingressBaseUrl}/api/callbacks'
    graphTenantId: graphTenantId
    otlpEndpoint: empty(otlpEndpoint) ? collector.outputs.endpoint : otlpEndpoint
    configSecretUri: keyVault.outputs.configSecretUri
    workerMinReplicas: workerMinReplicas
    workerMaxReplicas: workerMaxReplicas
    ingressMinReplicas: ingressMinReplicas
    ingressMaxReplicas: ingressMaxReplicas
  }
  // Pull rights and Service Bus rights must exist before the first revision starts.
  dependsOn: [
    registry
    serviceBus
    acsAccess
  ]
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in .azure/<env>/.env)
// ---------------------------------------------------------------------------------------------

@description('Resource group of the deployment.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Registry azd pushes images to.')
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer

@description('Public URL Call Automation posts callbacks to (what the worker sends as callbackUri).')
output CALLBACK_URL string = '${ingressBaseUrl}/api/callbacks'

@description('Fully qualified Service Bus namespace.')
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace

@description('Queue Event Grid delivers IncomingCall to.')
output INCOMING_CALLS_QUEUE string = serviceBus.outputs.incomingQueueName

@description('Queue the ingress publishes callbacks to.')
output CALL_EVENTS_QUEUE string = serviceBus.outputs.eventsQueueName

@description('Client id of the worker identity.')
output WORKER_CLIENT_ID string = identities.outputs.workerClientId

@description('Object id of the worker identity (grant Graph permissions to it).')
output WORKER_PRINCIPAL_ID string = identities.outputs.workerPrincipalId

@description('Client id of the ingress identity.')
output INGRESS_CLIENT_ID string = identities.outputs.ingressClientId

// No Application Insights connection string here: it carries the ingestion key, and azd
// writes outputs in plain text to .azure/<env>/.env. It lives in Key Vault only.

@description('Azure AI services endpoint Call Automation uses for speech (SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT).')
output COGNITIVE_SERVICES_ENDPOINT string = aiServices.outputs.endpoint

@description('Call Automation endpoint.')
output ACS_ENDPOINT string = acsAccess.outputs.endpoint

@description('ACS immutable resource id: JWT audience, and the value for Set-CsTeamsAcsFederationConfiguration -AllowedAcsResources.')
output ACS_IMMUTABLE_RESOURCE_ID string = acsAccess.outputs.immutableResourceId

@description('ARM resource id of the ACS resource.')
output ACS_RESOURCE_ID string = acsAccess.outputs.id

@description('Event Grid system topic of the ACS resource.')
output EVENTGRID_SYSTEM_TOPIC string = eventGridTopic.outputs.name

@description('Storage account holding Event Grid dead letters.')
output DEADLETTER_STORAGE_ACCOUNT string = deadLetters.outputs.accountName

@description('Key Vault holding the configuration and the telemetry connection string.')
output KEY_VAULT_NAME string = keyVault.outputs.name

@description('Redis host.')
output REDIS_HOST string = redis.outputs.hostName

@description('Name of the worker container app.')
output WORKER_APP_NAME string = apps.outputs.workerAppName

@description('Name of the ingress container app.')
output INGRESS_APP_NAME string = apps.outputs.ingressAppName
