// User-assigned managed identities. Each has one job, so each can be granted exactly what that
// job needs (see the role assignments in servicebus.bicep, acs-access.bicep, keyvault.bicep,
// redis.bicep and registry.bicep):
//   worker  - the worker app's code: receive events, drive Call Automation, read/write Redis.
//   ingress - the ingress app's code: publish callbacks to the call-events queue.
//   scaler  - KEDA only: read queue lengths. Attached to the worker app with lifecycle 'None', so
//             the worker's code can never obtain a token for it.
//   telemetry - the OpenTelemetry collector app: read the Application Insights connection string.

@description('Azure region for the identities.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Name of the worker identity.')
@minLength(3)
@maxLength(128)
param workerIdentityName string

@description('Name of the ingress identity.')
@minLength(3)
@maxLength(128)
param ingressIdentityName string

@description('Name of the identity the KEDA scale rules use.')
@minLength(3)
@maxLength(128)
param scalerIdentityName string

@description('Name of the telemetry collector identity.')
@minLength(3)
@maxLength(128)
param telemetryIdentityName string

resource worker 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: workerIdentityName
  location: location
  tags: tags
}

resource ingress 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: ingressIdentityName
  location: location
  tags: tags
}

resource scaler 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: scalerIdentityName
  location: location
  tags: tags
}

resource telemetry 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: telemetryIdentityName
  location: location
  tags: tags
}

@description('Resource id of the worker identity.')
output workerId string = worker.id
@description('Client id of the worker identity (AZURE_CLIENT_ID of the worker app).')
output workerClientId string = worker.properties.clientId
@description('Object (principal) id of the worker identity.')
output workerPrincipalId string = worker.properties.principalId

@description('Resource id of the ingress identity.')
output ingressId string = ingress.id
@description('Client id of the ingress identity (AZURE_CLIENT_ID of the ingress app).')
output ingressClientId string = ingress.properties.clientId
@description('Object (principal) id of the ingress identity.')
output ingressPrincipalId string = ingress.properties.principalId

@description('Resource id of the scaler identity.')
output scalerId string = scaler.id
@description('Object (principal) id of the scaler identity.')
output scalerPrincipalId string = scaler.properties.principalId

@description('Resource id of the telemetry collector identity.')
output telemetryId string = telemetry.id
@description('Object (principal) id of the telemetry collector identity.')
output telemetryPrincipalId string = telemetry.properties.principalId
