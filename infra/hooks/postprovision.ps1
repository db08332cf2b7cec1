# azd postprovision hook (Windows): the same steps as postprovision.sh. It reads no secret and prints none.
$ErrorActionPreference = 'Stop'
foreach ($name in 'AZURE_FUNCTION_APP_NAME', 'AZURE_FUNCTION_URL', 'AZURE_KEY_VAULT_NAME', 'AZURE_RESOURCE_GROUP') {
    if (-not [Environment]::GetEnvironmentVariable($name)) { throw "$name is not set: run by azd after provisioning" }
}
$app = $env:AZURE_FUNCTION_APP_NAME
$url = $env:AZURE_FUNCTION_URL
$vault = $env:AZURE_KEY_VAULT_NAME
$group = $env:AZURE_RESOURCE_GROUP

Write-Host @"

ProfileFunctions is provisioned: $url (function app $app, resource group $group).
It refuses to start until its secrets are in Key Vault $vault. Next (docs/deployment.md):

1. The secrets; --output none keeps az from printing them back. Keep the webhook secret: Supabase needs it in step 4.
   A pool of 5 on each of the default 40 instances fits the smallest pooler (200 clients): docs/deployment.md, pool sizing.
     `$secret = 'v1,whsec_' + [Convert]::ToBase64String([Security.Cryptography.RandomNumberGenerator]::GetBytes(32))
     az keyvault secret set --vault-name $vault --name ProfileSync--WebhookSecret --value `$secret --output none
     az keyvault secret set --vault-name $vault --name ProfileSync--ConnectionString --output none ``
       --value 'Host=aws-0-<region>.pooler.supabase.com;Port=6543;Database=postgres;Username=postgres.<project-ref>;Password=<password>;Maximum Pool Size=5'
2. Once the code is deployed (azd up does it next), restart the app so it reads them now:
     az functionapp restart --resource-group $group --name $app
     curl.exe -fsS $url/api/health
3. The function key for /api/auth-events:
     az functionapp keys list --resource-group $group --name $app --query functionKeys.default --output tsv
4. In Supabase's SQL editor, the function URL with that key, and the same webhook secret, into Vault:
     select vault.create_secret('$url/api/auth-events?code=<function key>', 'profile_sync_function_url');
     select vault.create_secret('<the value of `$secret from step 1>', 'profile_sync_webhook_secret');
5. The migrations, then adopt the users who have no profile yet:
     supabase db push --db-url 'postgresql://postgres:<password>@db.<project-ref>.supabase.co:5432/postgres'
     profilesync replay --dry-run
     profilesync replay

"@
