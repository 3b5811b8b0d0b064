// Azure AI services (multi-service account): what Call Automation uses for text-to-speech
// prompts and speech/DTMF recognition when a request names `cognitiveServicesEndpoint`.
//
// Local (key) authentication is off. Call Automation reaches the account with the managed
// identity of the Communication Services resource, which needs "Cognitive Services User" on
// the account ("Connect Azure AI services to Call Automation": enable the ACS resource's
// system-assigned identity, then assign it Cognitive Services User on the AI resource). The
// account needs a custom subdomain for Entra-authenticated calls. The worker only passes the
// endpoint along (SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT); it never calls the account itself.

@description('Account name; also the custom subdomain (<name>.cognitiveservices.azure.com). 2-64 letters, digits and dashes, globally unique.')
@minLength(2)
@maxLength(64)
param name string

@description('Azure region for the account.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Principal id of the Communication Services resource\'s system-assigned identity. Empty: no role assignment (an existing ACS resource without an identity; see infra/README.md).')
param acsPrincipalId string = ''

// "Cognitive Services User": the Microsoft.CognitiveServices/* data actions (speech included)
// without management rights on the account.
var cognitiveServicesUserRoleId = 'a97b65f3-24c7-4388-baec-2e87a2a7ab2b'

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' = {
  // checkov:skip=CKV_AZURE_134:Call Automation reaches the account from Microsoft's network, not a VNet we control; access is Entra-only (local auth off).
  name: name
  location: location
  tags: tags
  kind: 'AIServices'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource acsUsesAiServices 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(acsPrincipalId)) {
  name: guid(account.id, acsPrincipalId, cognitiveServicesUserRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesUserRoleId)
    principalId: acsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Endpoint Call Automation is given as cognitiveServicesEndpoint.')
output endpoint string = account.properties.endpoint

@description('Account name.')
output name string = account.name
