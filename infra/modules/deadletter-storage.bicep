// Where Event Grid puts IncomingCall events it could not deliver to Service Bus within the
// subscription's retry policy (one blob per event, under <container>/<topic>/<subscription>/...).
// Shared keys are disabled and the firewall denies everything except trusted Azure services:
// Event Grid writes with its system topic's managed identity, which is allowed as a trusted
// service. Operators add their own IP to the firewall to inspect dead letters (see infra/README.md).

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region for the storage account.')
param location string

@description('Tags applied to every resource in this module.')
param tags object

@description('Blob container that receives dead-lettered events.')
param containerName string = 'eventgrid-deadletter'

@description('Principal id of the Event Grid system topic identity (writes dead letters).')
param writerPrincipalId string

@description('Days to keep dead-lettered events before the lifecycle policy deletes them.')
@minValue(1)
@maxValue(365)
param retentionDays int = 30

var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59:The firewall denies all public traffic (networkAcls.defaultAction Deny); Enabled is what lets the trusted-service exception admit Event Grid.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_GRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-dead-letters'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: retentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource writer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, writerPrincipalId, storageBlobDataContributorRoleId)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: writerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Resource id of the storage account (Event Grid dead-letter destination).')
output accountId string = account.id

@description('Name of the storage account.')
output accountName string = account.name

@description('Name of the dead-letter container.')
output containerName string = container.name
