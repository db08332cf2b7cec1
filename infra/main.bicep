// ProfileFunctions on Azure: a Flex Consumption function app with a user-assigned identity, identity-only storage,
// Key Vault (RBAC) for its secrets, Application Insights on a Log Analytics workspace. Resource group scope, so the
// same file serves `azd up` (with AZURE_RESOURCE_GROUP) and `az deployment group create`. docs/deployment.md has both.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd\'s AZURE_ENV_NAME): tags every resource and seeds their unique names.')
param environmentName string

@description('Region of every resource; Flex Consumption must be offered there (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Object id of whoever deploys (azd passes AZURE_PRINCIPAL_ID): gets Key Vault Secrets Officer to set the secrets. Empty: nobody.')
param principalId string = ''

@description('Most instances the app scales out to. Each has its own Npgsql pool: instances × Maximum Pool Size must fit the pooler (docs/deployment.md).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance; 2048 MB gets 16 concurrent HTTP requests per instance by default.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('The ReconcileProfiles timer\'s schedule (NCRONTAB, six fields, seconds first).')
param reconcileSchedule string = '0 */10 * * * *'

@description('Also read ProfileSync__WebhookBearerToken from Key Vault (secret ProfileSync--WebhookBearerToken), for a dashboard Database Webhook. Put the secret there first: the app does not start without it.')
param useWebhookBearerToken bool = false

@description('Key Vault purge protection (irreversible once on). Off lets `azd down --purge` free the vault\'s name at once.')
param enablePurgeProtection bool = true

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-${resourceToken}'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: 'id-${resourceToken}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    name: 'st${resourceToken}'
    deploymentContainerName: 'app-package'
    appPrincipalId: identity.properties.principalId
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    location: location
    tags: tags
    name: 'kv-${resourceToken}'
    appPrincipalId: identity.properties.principalId
    deployerPrincipalId: principalId
    enablePurgeProtection: enablePurgeProtection
  }
}

// Takes outputs of the storage and Key Vault modules, so it starts once their role assignments exist.
module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    planName: 'plan-${resourceToken}'
    name: functionAppName
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}app-package'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    reconcileSchedule: reconcileSchedule
    useWebhookBearerToken: useWebhookBearerToken
  }
}

// What the hooks and docs/deployment.md use; nothing secret.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
