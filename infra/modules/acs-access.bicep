// Deployed into the resource group of the Communication Services resource (new or existing):
// lets the worker identity call Call Automation with Entra ID, and reads back the values the
// apps and the Teams administrator need (endpoint, immutable resource id).

@description('Name of the Communication Services resource (in the resource group this module is deployed to).')
param acsName string

@description('Principal id of the worker identity, which calls Call Automation.')
param workerPrincipalId string

@description('Optional principal (developer / live-test runner) that may also call ACS with Entra ID. Empty: nobody.')
param operatorPrincipalId string = ''

@description('Type of operatorPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

// "Communication and Email Service Owner": the narrowest built-in role that authorizes
// Entra-authenticated data-plane calls (Call Automation) on a Communication Services resource.
// Scoped to this one resource.
var communicationServiceOwnerRoleId = '09976791-48a7-449e-bb21-39d1a415f350'

resource acs 'Microsoft.Communication/communicationServices@2025-09-01' existing = {
  name: acsName
}

resource workerCallsAcs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acs.id, workerPrincipalId, communicationServiceOwnerRoleId)
  scope: acs
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationServiceOwnerRoleId)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorCallsAcs 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(acs.id, operatorPrincipalId, communicationServiceOwnerRoleId)
  scope: acs
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationServiceOwnerRoleId)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

@description('Resource id of the Communication Services resource (Event Grid source).')
output id string = acs.id

@description('Call Automation endpoint (SWITCHBOARD_ACS_ENDPOINT).')
output endpoint string = 'https://${acs.properties.hostName}'

@description('Immutable resource id: the audience of callback JWTs (SWITCHBOARD_ACS_RESOURCE_ID) and what the Teams administrator allows (enable-interop.ps1 -AcsImmutableResourceId).')
output immutableResourceId string = acs.properties.immutableResourceId
