// A new Azure Communication Services resource (used when main.bicep is not given an existing one).
// The system-assigned identity is what Call Automation uses to reach Azure AI services
// (ai-services.bicep grants it Cognitive Services User there).
// Local (access key) authentication is disabled: the worker calls Call Automation with Entra
// tokens of its managed identity, so no connection string exists anywhere.
// Phone numbers cannot be bought from a template: buy one in the portal (or with the Phone
// Numbers API) after deployment and give it to main.bicep's servedPhoneNumbers.

@description('Name of the Communication Services resource (globally unique, becomes <name>.<geo>.communication.azure.com).')
@minLength(1)
@maxLength(63)
param name string

@description('Tags applied to every resource in this module.')
param tags object

@description('Where ACS stores data at rest, e.g. "United States", "Europe", "UK", "Australia", "Japan".')
param dataLocation string

resource acs 'Microsoft.Communication/communicationServices@2025-09-01' = {
  name: name
  location: 'global'
  tags: tags
  // Call Automation authenticates to Azure AI services (speech) with this identity.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    dataLocation: dataLocation
    disableLocalAuth: true
  }
}

@description('Name of the Communication Services resource.')
output name string = acs.name

@description('Resource id of the Communication Services resource.')
output id string = acs.id
