// Key Vault for the only two values that must not sit in a container app definition:
//   appinsights-connection-string  APPLICATIONINSIGHTS_CONNECTION_STRING (carries an ingestion key;
//                                  only the OpenTelemetry collector app reads it)
//   switchboard-config             the worker's TOML configuration (routing roster, numbers),
//                                  mounted as /etc/switchboard/switchboard.toml
// The apps reference them by versionless URL with their own identity (Container Apps refreshes
// them periodically), so nothing secret is inlined in any template or revision. Access is
// RBAC-only and granted per secret, not per vault.

@description('Vault name: 3-24 letters, digits and dashes, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region for the vault.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Name of the Application Insights component in this resource group whose connection string is stored.')
param appInsightsName string

@description('The worker configuration file (TOML).')
@secure()
param switchboardConfigToml string

@description('Principal id of the worker identity (reads the configuration secret).')
param workerPrincipalId string

@description('Principal id of the telemetry collector identity (reads the telemetry secret).')
param telemetryPrincipalId string

@description('Purge protection. On: a deleted vault cannot be purged until softDeleteRetentionInDays have passed, so `azd down --purge && azd up` cannot reuse the name for that long (irreversible once on). Off for dev environments; on for production (main.bicep keyVaultPurgeProtection).')
param purgeProtection bool = false

@description('Days a deleted vault or secret can be recovered (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var appInsightsSecretName = 'appinsights-connection-string'
var configSecretName = 'switchboard-config'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_110:Purge protection is the keyVaultPurgeProtection parameter: on in production, off in dev so `azd down --purge` frees the name.
  // checkov:skip=CKV_AZURE_42:As CKV_AZURE_110 (soft delete itself is always on).
  // checkov:skip=CKV_AZURE_109:Consumption Container Apps reach Key Vault from shared, changing egress IPs; access is RBAC-only, per secret.
  // checkov:skip=CKV_AZURE_189:As CKV_AZURE_109: public network access is needed without a VNet-integrated environment.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // The API accepts only true or absent (null): purge protection cannot be switched off.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource appInsightsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:Re-written on every provision and read continuously by the apps; an expiry would only stop telemetry.
  parent: vault
  name: appInsightsSecretName
  properties: {
    contentType: 'text/plain; application-insights-connection-string'
    value: appInsights.properties.ConnectionString
  }
}

resource configSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:Configuration, not a credential; an expiry would stop the worker from starting.
  parent: vault
  name: configSecretName
  properties: {
    contentType: 'application/toml'
    value: switchboardConfigToml
  }
}

resource workerReadsConfig 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(configSecret.id, workerPrincipalId, keyVaultSecretsUserRoleId)
  scope: configSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource collectorReadsTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsightsSecret.id, telemetryPrincipalId, keyVaultSecretsUserRoleId)
  scope: appInsightsSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: telemetryPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Vault name.')
output name string = vault.name

@description('Versionless URL of the Application Insights connection string secret.')
output appInsightsSecretUri string = '${vault.properties.vaultUri}secrets/${appInsightsSecretName}'

@description('Versionless URL of the worker configuration secret.')
output configSecretUri string = '${vault.properties.vaultUri}secrets/${configSecretName}'
