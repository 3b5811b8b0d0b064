// Azure Container Registry for the one Switchboard image. No admin user, no anonymous pull: the
// container apps pull with their user-assigned identities (AcrPull), the deployer (azd or the
// GitHub deploy workflow) pushes with its own Entra identity (AcrPush).

@description('Registry name: 5-50 alphanumeric characters, globally unique.')
@minLength(5)
@maxLength(50)
param name string

@description('Azure region for the registry.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Registry SKU. Standard: enough storage and throughput, and vulnerability scanning by Defender for Containers; Premium adds private endpoints, geo-replication, retention and quarantine.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Principal ids of the managed identities that pull the image (the apps).')
param pullPrincipalIds array

@description('Principal id allowed to push images (the deployer: a user running azd, or the CI service principal). Empty: nobody.')
param pushPrincipalId string = ''

@description('Type of pushPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param pushPrincipalType string = 'User'

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var acrPushRoleId = '8311e382-0749-4cb8-b61a-304f252e45ec'

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' = {
  // checkov:skip=CKV_AZURE_139:Consumption Container Apps pull over the public endpoint; every pull and push needs an Entra token.
  // checkov:skip=CKV_AZURE_166:Quarantine needs Premium; the deploy workflow scans the image (Trivy) before it is pushed.
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    // The consumption Container Apps environment has no fixed egress, so the registry stays
    // reachable publicly; every request still needs an Entra token.
    publicNetworkAccess: 'Enabled'
  }
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in pullPrincipalIds: {
  name: guid(registry.id, principalId, acrPullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource push 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(pushPrincipalId)) {
  name: guid(registry.id, pushPrincipalId, acrPushRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPushRoleId)
    principalId: pushPrincipalId
    principalType: pushPrincipalType
  }
}

@description('Registry login server, e.g. crxyz.azurecr.io.')
output loginServer string = registry.properties.loginServer

@description('Registry name.')
output name string = registry.name
