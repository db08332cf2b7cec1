// The Functions host's storage (keys, timer leases and schedule) and the Flex Consumption deployment container,
// reached only by the app's managed identity: shared keys are off, so no connection string can work.

param location string
param tags object
param name string
param deploymentContainerName string

@description('Principal id of the function app\'s user-assigned identity.')
param appPrincipalId string

// Storage Blob Data Owner. A .NET isolated app with HTTP and timer triggers needs blobs only: the host keeps its keys
// (azure-webjobs-secrets), the timer's singleton lease and schedule status (azure-webjobs-hosts) in blobs, and Flex
// Consumption reads the app package from the deployment container. Queues serve blob and queue triggers and Durable
// Functions, tables Durable Functions: none of which this app has, so neither role is granted.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
