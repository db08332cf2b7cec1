using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using ProfileSync.Events;

namespace ProfileSync.Tests.Deployment;

/// <summary>
/// infra/main.bicep, built, linted and snapshotted offline by the Bicep CLI: it makes what docs/deployment.md says
/// (Flex Consumption, one identity for storage, deployment and Key Vault, workspace-based Application Insights) and
/// holds no secret.
/// </summary>
public sealed partial class DeploymentTemplateTests
{
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
    private const string KeyVaultSecretsOfficer = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
    /// <summary>The settings that carry a secret (docs/configuration.md): each may only ever be a Key Vault reference.</summary>
    private static readonly string[] SecretSettings =
        ["ProfileSync__ConnectionString", "ProfileSync__WebhookSecret", "ProfileSync__WebhookBearerToken", "ProfileSync__AdminKey"];

    [Fact]
    public void The_template_builds_and_lints_without_a_warning()
    {
        var build = Bicep.Run("build", Bicep.MainFile, "--stdout");
        var lint = Bicep.Run("lint", Bicep.MainFile);

        Assert.True(build.ExitCode == 0 && build.Errors.Trim().Length == 0, $"bicep build:{Environment.NewLine}{build.Errors}");
        Assert.True(lint.ExitCode == 0 && (lint.Output + lint.Errors).Trim().Length == 0, $"bicep lint:{Environment.NewLine}{lint.Output}{lint.Errors}");
        // The rules that keep secrets out fail the lint rather than warn.
        var rules = JsonNode.Parse(File.ReadAllText(Path.Combine(Bicep.InfraDirectory, "bicepconfig.json")))!["analyzers"]!["core"]!["rules"]!;
        foreach (var rule in new[] { "outputs-should-not-contain-secrets", "secure-parameter-default", "secure-secrets-in-params", "use-secure-value-for-secure-inputs", "no-hardcoded-env-urls" })
        {
            Assert.Equal("error", (string?)rules[rule]?["level"]);
        }
    }

    [Fact]
    public void The_function_app_runs_dotnet_10_isolated_on_Flex_Consumption()
    {
        var snapshot = Snapshots.AsAzdUpDeploysIt;
        var plan = snapshot.Single("Microsoft.Web/serverfarms");
        var site = snapshot.Single("Microsoft.Web/sites");
        var config = site["properties"]!["functionAppConfig"]!;
        var tuned = Snapshots.Tuned.Single("Microsoft.Web/sites")["properties"]!["functionAppConfig"]!["scaleAndConcurrency"]!;

        Assert.Equal(("FC1", "FlexConsumption", true), ((string?)plan["sku"]!["name"], (string?)plan["sku"]!["tier"], (bool?)plan["properties"]!["reserved"]));
        Assert.Equal("functionapp,linux", (string?)site["kind"]);
        Assert.Equal((string?)plan["id"], (string?)site["properties"]!["serverFarmId"]);
        Assert.True((bool?)site["properties"]!["httpsOnly"]);
        // The runtime the projects build for (Directory.Build.props: net10.0).
        Assert.Contains("<TargetFramework>net10.0</TargetFramework>", File.ReadAllText(Path.Combine(Repository.Root, "Directory.Build.props")), StringComparison.Ordinal);
        Assert.Equal(("dotnet-isolated", "10.0"), ((string?)config["runtime"]!["name"], (string?)config["runtime"]!["version"]));
        Assert.Equal((40, 2048), ((int?)config["scaleAndConcurrency"]!["maximumInstanceCount"], (int?)config["scaleAndConcurrency"]!["instanceMemoryMB"]));
        Assert.Equal((25, 4096), ((int?)tuned["maximumInstanceCount"], (int?)tuned["instanceMemoryMB"]));
    }

    [Fact]
    public void The_app_reaches_storage_by_its_identity_and_storage_takes_no_key()
    {
        var snapshot = Snapshots.AsAzdUpDeploysIt;
        var identityId = (string)snapshot.Single("Microsoft.ManagedIdentity/userAssignedIdentities")["id"]!;
        var site = snapshot.Single("Microsoft.Web/sites");
        var storage = snapshot.Single("Microsoft.Storage/storageAccounts");
        var container = snapshot.Single("Microsoft.Storage/storageAccounts/blobServices/containers");
        var deployment = site["properties"]!["functionAppConfig"]!["deployment"]!["storage"]!;
        var settings = snapshot.AppSettings;

        Assert.Equal("UserAssigned", (string?)site["identity"]!["type"]);
        Assert.Equal([identityId], site["identity"]!["userAssignedIdentities"]!.AsObject().Select(i => i.Key));
        // Flex Consumption fetches the package from the container as that identity.
        Assert.Equal("blobContainer", (string?)deployment["type"]);
        Assert.Equal($"reference({storage["id"]}).primaryEndpoints.blob{((string)container["name"]!).Split('/')[^1]}", ArmExpression.Evaluate((string)deployment["value"]!));
        Assert.Equal(("UserAssignedIdentity", identityId), ((string?)deployment["authentication"]!["type"], (string?)deployment["authentication"]!["userAssignedIdentityResourceId"]));
        Assert.Equal("None", (string?)container["properties"]!["publicAccess"]);
        // The host's storage: the account's name and the identity, never a connection string.
        Assert.Equal((string?)storage["name"], settings["AzureWebJobsStorage__accountName"]);
        Assert.Equal("managedidentity", settings["AzureWebJobsStorage__credential"]);
        Assert.Equal($"reference({identityId}).clientId", settings["AzureWebJobsStorage__clientId"]);
        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
        Assert.Equal((false, false, "TLS1_2"), ((bool?)storage["properties"]!["allowSharedKeyAccess"], (bool?)storage["properties"]!["allowBlobPublicAccess"], (string?)storage["properties"]!["minimumTlsVersion"]));
        Assert.DoesNotContain("listKeys(", Bicep.CompiledText, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_template_stores_no_secret_and_references_each_one_from_Key_Vault()
    {
        foreach (var snapshot in new[] { Snapshots.AsAzdUpDeploysIt, Snapshots.Tuned })
        {
            var vault = (string)snapshot.Single("Microsoft.KeyVault/vaults")["name"]!;
            var identityId = (string)snapshot.Single("Microsoft.ManagedIdentity/userAssignedIdentities")["id"]!;
            var settings = snapshot.AppSettings;

            // Versionless (no version, the trailing slash), so a rotated secret is the one the app gets next.
            foreach (var setting in SecretSettings.Where(settings.ContainsKey))
            {
                Assert.Equal($"@Microsoft.KeyVault(SecretUri=https://{vault}.vault.azure.net/secrets/{setting.Replace("__", "--", StringComparison.Ordinal)}/)", settings[setting]);
            }

            Assert.Equal((string?)identityId, (string?)snapshot.Single("Microsoft.Web/sites")["properties"]!["keyVaultReferenceIdentity"]);
            Assert.Empty(snapshot.All("Microsoft.KeyVault/vaults/secrets"));
        }

        Assert.Equal(["ProfileSync__ConnectionString", "ProfileSync__WebhookSecret"], KeyVaultReferences(Snapshots.AsAzdUpDeploysIt).Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["ProfileSync__ConnectionString", "ProfileSync__WebhookBearerToken", "ProfileSync__WebhookSecret"], KeyVaultReferences(Snapshots.Tuned).Keys.Order(StringComparer.Ordinal));

        var texts = new Dictionary<string, string>
        {
            ["the compiled template"] = Bicep.CompiledText,
            ["main.parameters.json"] = File.ReadAllText(Path.Combine(Bicep.InfraDirectory, "main.parameters.json")),
        };
        foreach (var (where, text) in texts)
        {
            Assert.False(SecretLooking().IsMatch(text), $"{where} holds what looks like a secret: {SecretLooking().Match(text).Value}");
        }

        foreach (var template in Bicep.Templates(Bicep.Compiled))
        {
            foreach (var (name, parameter) in template["parameters"]?.AsObject() ?? [])
            {
                // A bool or a number holds no secret, whatever its name.
                var type = ((string?)parameter!["type"])?.ToLowerInvariant();
                Assert.True(!SecretName().IsMatch(name) || type is "securestring" or "secureobject" or "bool" or "int", $"parameter {name} looks secret and is not @secure()");
                Assert.False(parameter["defaultValue"] is JsonValue value && value.TryGetValue(out string? text) && SecretLooking().IsMatch(text), $"parameter {name} has a default that looks like a secret");
            }
        }
    }

    [Fact]
    public void A_secret_missing_from_Key_Vault_stops_the_app_naming_the_setting()
    {
        // Azure hands the app the reference's own text when it cannot resolve it (the secret not set yet, no access).
        foreach (var (setting, reference) in KeyVaultReferences(Snapshots.AsAzdUpDeploysIt))
        {
            var values = new Dictionary<string, string?>
            {
                ["ProfileSync__ConnectionString"] = "Host=db.example.supabase.co;Database=postgres;Username=postgres",
                ["ProfileSync__WebhookSecret"] = "v1,whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
                [setting] = reference,
            };
            var options = new ConfigurationBuilder()
                .AddInMemoryCollection(values.ToDictionary(v => v.Key.Replace("__", ":", StringComparison.Ordinal), v => v.Value))
                .Build().GetSection(ProfileSyncOptions.SectionName).Get<ProfileSyncOptions>()!;

            var failures = new IValidateOptions<ProfileSyncOptions>[] { new ProfileSyncOptionsValidator(), new EventAuthenticationValidator() }
                .Select(v => v.Validate(null, options)).Where(r => r.Failed).SelectMany(r => r.Failures!).ToList();

            Assert.Contains(failures, f => f.StartsWith(setting, StringComparison.Ordinal));
        }

        // A bearer token's reference text would be accepted as a token: so it is a reference only when asked for.
        Assert.DoesNotContain("ProfileSync__WebhookBearerToken", Snapshots.AsAzdUpDeploysIt.AppSettings.Keys);
    }

    [Fact]
    public void Key_Vault_authorizes_by_RBAC_keeps_deleted_secrets_and_protects_them_from_purge()
    {
        var vault = Snapshots.AsAzdUpDeploysIt.Single("Microsoft.KeyVault/vaults")["properties"]!;
        var tuned = Snapshots.Tuned.Single("Microsoft.KeyVault/vaults")["properties"]!;

        Assert.Equal((true, true, true), ((bool?)vault["enableRbacAuthorization"], (bool?)vault["enableSoftDelete"], (bool?)vault["enablePurgeProtection"]));
        // Turned off, it is left out: the API refuses an explicit false.
        Assert.Null(tuned["enablePurgeProtection"]);
    }

    [Fact]
    public void The_app_gets_the_roles_it_needs_and_the_deployer_only_Secrets_Officer()
    {
        var snapshot = Snapshots.AsAzdUpDeploysIt;
        var storage = (string)snapshot.Single("Microsoft.Storage/storageAccounts")["id"]!;
        var vault = (string)snapshot.Single("Microsoft.KeyVault/vaults")["id"]!;
        var app = $"reference({snapshot.Single("Microsoft.ManagedIdentity/userAssignedIdentities")["id"]}).principalId";
        (string, string, string, string?)[] appRoles =
        [
            (storage, StorageBlobDataOwner, app, "ServicePrincipal"),
            (vault, KeyVaultSecretsUser, app, "ServicePrincipal"),
        ];

        Assert.Equal(appRoles.Append((vault, KeyVaultSecretsOfficer, Snapshots.Deployer, null)).Order(), Roles(snapshot).Order());
        Assert.Equal(appRoles.Select(r => (r.Item2, r.Item4)).Order(), Roles(Snapshots.Tuned).Select(r => (r.Role, r.PrincipalType)).Order());
        // Named by guid() of scope, principal and role: a second deployment finds them instead of failing on duplicates.
        foreach (var assignment in Bicep.Templates(Bicep.Compiled).SelectMany(Bicep.Resources).Where(r => (string?)r["type"] == "Microsoft.Authorization/roleAssignments"))
        {
            Assert.StartsWith("[guid(", (string?)assignment["name"], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Telemetry_goes_to_workspace_based_Application_Insights()
    {
        var snapshot = Snapshots.AsAzdUpDeploysIt;
        var workspace = snapshot.Single("Microsoft.OperationalInsights/workspaces");
        var component = snapshot.Single("Microsoft.Insights/components");

        Assert.Equal((string?)workspace["id"], (string?)component["properties"]!["WorkspaceResourceId"]);
        Assert.Equal($"reference({component["id"]}).ConnectionString", snapshot.AppSettings["APPLICATIONINSIGHTS_CONNECTION_STRING"]);
    }

    [Fact]
    public void The_outputs_name_the_app_the_vault_and_the_group_and_nothing_secret()
    {
        var snapshot = Snapshots.AsAzdUpDeploysIt;
        var site = snapshot.Single("Microsoft.Web/sites");
        var vault = snapshot.Single("Microsoft.KeyVault/vaults");

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["AZURE_LOCATION"] = DeploymentSnapshot.Location,
                ["AZURE_RESOURCE_GROUP"] = DeploymentSnapshot.ResourceGroup,
                ["AZURE_FUNCTION_APP_NAME"] = (string)site["name"]!,
                ["AZURE_FUNCTION_URL"] = $"https://reference({site["id"]}).defaultHostName",
                ["AZURE_KEY_VAULT_NAME"] = (string)vault["name"]!,
                ["AZURE_KEY_VAULT_ENDPOINT"] = $"reference({vault["id"]}).vaultUri",
            },
            snapshot.Outputs);
    }

    [Fact]
    public void The_app_settings_are_the_ones_Azure_needs_and_the_reconcile_schedule_the_docs_give()
    {
        var settings = Snapshots.AsAzdUpDeploysIt.AppSettings;
        var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(Repository.Root, "local.settings.sample.json")))!["Values"]!;
        var configuration = File.ReadAllText(Path.Combine(Repository.Root, "docs", "configuration.md"));

        // No FUNCTIONS_WORKER_RUNTIME or FUNCTIONS_EXTENSION_VERSION: Flex Consumption takes the runtime from
        // functionAppConfig and refuses them. No ProfileSync__AdminKey: only `profilesync serve` reads it.
        Assert.Equal(
            [
                "APPLICATIONINSIGHTS_CONNECTION_STRING", "AzureWebJobsStorage__accountName", "AzureWebJobsStorage__clientId",
                "AzureWebJobsStorage__credential", "ProfileSync__ConnectionString", "ProfileSync__ReconcileSchedule", "ProfileSync__WebhookSecret",
            ],
            settings.Keys.Order(StringComparer.Ordinal));
        foreach (var setting in settings.Keys.Where(k => k.StartsWith("ProfileSync__", StringComparison.Ordinal)))
        {
            Assert.Contains($"`{setting}`", configuration, StringComparison.Ordinal);
        }

        Assert.Equal((string?)sample["ProfileSync__ReconcileSchedule"], settings["ProfileSync__ReconcileSchedule"]);
        Assert.Equal("0 */30 * * * *", Snapshots.Tuned.AppSettings["ProfileSync__ReconcileSchedule"]);
    }

    private static Dictionary<string, string> KeyVaultReferences(DeploymentSnapshot snapshot) =>
        snapshot.AppSettings.Where(s => s.Value.StartsWith("@Microsoft.KeyVault(", StringComparison.Ordinal)).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);

    private static List<(string Scope, string Role, string Principal, string? PrincipalType)> Roles(DeploymentSnapshot snapshot) =>
        [.. snapshot.RoleAssignments.Select(r => (r.Scope, r.Role, r.Principal, r.PrincipalType))];

    // What a leaked credential looks like: storage keys and SAS, webhook secrets, passwords, connection strings,
    // private keys, JWTs, or a list*() call that would fetch keys at deployment.
    [GeneratedRegex(@"AccountKey=|SharedAccessSignature|sig=[A-Za-z0-9%]{20,}|whsec_|Password=|DefaultEndpointsProtocol=|InstrumentationKey=|-----BEGIN|eyJ[A-Za-z0-9_-]{20,}|\blist(Keys|Secrets|ConnectionStrings)\(", RegexOptions.IgnoreCase)]
    private static partial Regex SecretLooking();

    [GeneratedRegex("secret|password|token|connectionstring|accountkey|adminkey", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();
}
