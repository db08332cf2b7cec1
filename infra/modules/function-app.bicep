// The function app on Flex Consumption: .NET 10 isolated, its identity for storage, deployment and Key Vault, its
// secrets as Key Vault references (versionless, so a rotated secret is picked up) and no key or password of any kind.

param location string
param tags object
param planName string
param name string

@description('Resource id of the app\'s user-assigned identity.')
param identityId string

@description('Client id of that identity: which identity the host uses for AzureWebJobsStorage.')
param identityClientId string

param storageAccountName string
param deploymentContainerUrl string
param applicationInsightsName string

@description('Name of the vault holding the app\'s secrets.')
param keyVaultName string

param maximumInstanceCount int
param instanceMemoryMB int
param reconcileSchedule string
param useWebhookBearerToken bool

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// A versionless reference (the trailing slash and no version) follows rotation: the app gets the secret's newest
// version when it next resolves references. Secret names use `--` where settings have `__` (Key Vault allows only
// letters, digits and dashes).
var secretsUri = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets'
var keyVaultReferences = union(
  {
    ProfileSync__ConnectionString: '@Microsoft.KeyVault(SecretUri=${secretsUri}/ProfileSync--ConnectionString/)'
    ProfileSync__WebhookSecret: '@Microsoft.KeyVault(SecretUri=${secretsUri}/ProfileSync--WebhookSecret/)'
  },
  // Opt-in: only a dashboard Database Webhook needs the token. While any referenced secret is missing, the app
  // gets the reference's own text and refuses to start, naming it.
  useWebhookBearerToken
    ? { ProfileSync__WebhookBearerToken: '@Microsoft.KeyVault(SecretUri=${secretsUri}/ProfileSync--WebhookBearerToken/)' }
    : {}
)

var appSettings = union(keyVaultReferences, {
  // Host storage by identity: the account's name, and which identity; no connection string.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Not a secret in Azure's model (it only lets a client send telemetry), so a plain setting.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  // The timer reads it as %ProfileSync__ReconcileSchedule%: there is no default, so it must be set.
  ProfileSync__ReconcileSchedule: reconcileSchedule
})

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  // azd deploys the `api` service of azure.yaml to the resource carrying this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: appSettings
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
