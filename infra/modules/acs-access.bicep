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

@description('Give the worker the built-in "Communication and Email Service Owner" role instead of the custom Call Automation role. Only as a fallback if Call Automation answers 403 with the custom role.')
param useBuiltInOwnerRole bool = false

@description('Actions of the custom role. Default: read and write on the Communication Services resource, the part of "Communication and Email Service Owner" an Entra-authenticated data-plane request is checked against; without delete, key listing/regeneration, notification hubs, Event Grid filters and email services.')
param callAutomationRoleActions array = [
  'Microsoft.Communication/CommunicationServices/read'
  'Microsoft.Communication/CommunicationServices/write'
]

// Least privilege. "Communication and Email Service Owner" (built-in) can also delete the
// resource, list and regenerate its access keys (which would undo disableLocalAuth for whoever
// holds them) and manage email services. Microsoft publishes no Call Automation-specific data
// actions for Microsoft.Communication; the custom role keeps only what the built-in role
// grants on the resource itself. Not verified against a live resource from this repository:
// if Call Automation answers 403, deploy with useBuiltInOwnerRole=true and report it.
var communicationServiceOwnerRoleId = '09976791-48a7-449e-bb21-39d1a415f350'
var callAutomationRoleName = guid(resourceGroup().id, 'switchboard-call-automation')

resource acs 'Microsoft.Communication/communicationServices@2025-09-01' existing = {
  name: acsName
}

resource callAutomationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!useBuiltInOwnerRole) {
  name: callAutomationRoleName
  properties: {
    roleName: 'Switchboard Call Automation caller (${resourceGroup().name})'
    type: 'CustomRole'
    permissions: [
      {
        actions: callAutomationRoleActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

var workerRoleDefinitionId = useBuiltInOwnerRole ? subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationServiceOwnerRoleId) : callAutomationRole.id

resource workerCallsAcs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acs.id, workerPrincipalId, useBuiltInOwnerRole ? communicationServiceOwnerRoleId : callAutomationRoleName)
  scope: acs
  properties: {
    roleDefinitionId: workerRoleDefinitionId
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorCallsAcs 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(acs.id, operatorPrincipalId, useBuiltInOwnerRole ? communicationServiceOwnerRoleId : callAutomationRoleName)
  scope: acs
  properties: {
    roleDefinitionId: workerRoleDefinitionId
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

@description('Resource id of the Communication Services resource (Event Grid source).')
output id string = acs.id

@description('Call Automation endpoint (SWITCHBOARD_ACS_ENDPOINT).')
output endpoint string = 'https://${acs.properties.hostName}'

@description('Principal id of the resource\'s system-assigned identity (what Call Automation uses to reach Azure AI services); empty if the resource has none.')
output principalId string = acs.identity.?principalId ?? ''

@description('Immutable resource id: the audience of callback JWTs (SWITCHBOARD_ACS_RESOURCE_ID) and what the Teams administrator allows (enable-interop.ps1 -AcsImmutableResourceId).')
output immutableResourceId string = acs.properties.immutableResourceId
