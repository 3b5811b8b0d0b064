// Observability: one Log Analytics workspace (Container Apps console/system logs, diagnostics of
// every resource) and a workspace-based Application Insights component that the apps export
// OpenTelemetry traces and metrics to (APPLICATIONINSIGHTS_CONNECTION_STRING, via Key Vault).

@description('Azure region for the workspace and the Application Insights component.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Name of the Log Analytics workspace.')
@minLength(4)
@maxLength(63)
param logAnalyticsName string

@description('Name of the Application Insights component.')
@minLength(1)
@maxLength(260)
param appInsightsName string

@description('Days to keep logs. 30 is included in the per-GB price; longer retention is billed.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      // Readers need rights on the resource whose logs they query, not on the whole workspace.
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Local (key-based) ingestion stays on: the OpenTelemetry exporters authenticate with the
    // connection string's ingestion key, which only allows writing telemetry, never reading it.
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

@description('Resource id of the Log Analytics workspace.')
output workspaceId string = workspace.id

@description('Name of the Application Insights component (Key Vault reads its connection string by reference).')
output appInsightsName string = appInsights.name
