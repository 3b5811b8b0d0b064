// The Container Apps environment both apps run in (consumption workload profile). Console and
// system logs go to Azure Monitor and from there to the Log Analytics workspace through a
// diagnostic setting, so no workspace shared key is ever placed in the environment definition.

@description('Environment name.')
@minLength(2)
@maxLength(60)
param name string

@description('Azure region for the environment.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Resource id of the Log Analytics workspace that receives the environment logs.')
param workspaceId string

resource managedEnvironment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    peerTrafficConfiguration: {
      encryption: {
        enabled: true
      }
    }
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: managedEnvironment
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

@description('Resource id of the environment.')
output id string = managedEnvironment.id

@description('Default domain: apps are reachable at https://<app name>.<defaultDomain>.')
output defaultDomain string = managedEnvironment.properties.defaultDomain
