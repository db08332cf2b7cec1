using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static ProfileSync.Tests.Deployment.Yaml;

namespace ProfileSync.Tests.Deployment;

/// <summary>
/// azure.yaml and what `azd up` reads beside it: the service azd deploys is the function project and the resource
/// the template tags for it; infra/main.parameters.json feeds the template; the post-provision hook tells what is
/// left to do, printing no secret.
/// </summary>
public sealed partial class AzdManifestTests
{
    private static readonly Dictionary<object, object?> Manifest = Load("azure.yaml");

    [Fact]
    public void Azure_yaml_deploys_the_function_project_as_the_service_the_template_tags()
    {
        var (name, service) = Assert.Single(Map(Manifest["services"]));
        var api = Map(service);
        var project = Path.GetFullPath(Path.Combine(Repository.Root, api.Text("project")));
        var infra = Map(Manifest["infra"]);

        Assert.Equal(("function", "dotnet"), (api.Text("host"), api.Text("language")));
        Assert.Contains("<AzureFunctionsVersion>v4</AzureFunctionsVersion>", File.ReadAllText(Path.Combine(project, "ProfileFunctions.csproj")), StringComparison.Ordinal);
        Assert.Equal(Path.Combine(Repository.Root, "functions", "ProfileFunctions"), project.TrimEnd('/'));
        Assert.True(File.Exists(Path.Combine(Repository.Root, infra.Text("path"), $"{infra.Text("module")}.bicep")));
        Assert.Equal((string)name, (string?)Snapshots.AsAzdUpDeploysIt.Single("Microsoft.Web/sites")["tags"]!["azd-service-name"]);
    }

    [Fact]
    public void The_parameters_file_feeds_azds_environment_to_the_template_keeping_its_defaults()
    {
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(Bicep.InfraDirectory, "main.parameters.json")))!["parameters"]!.AsObject();
        var template = Bicep.Compiled["parameters"]!.AsObject();

        Assert.Equal("${AZURE_ENV_NAME}", (string?)file["environmentName"]!["value"]);
        Assert.Equal("${AZURE_LOCATION}", (string?)file["location"]!["value"]);
        Assert.Equal("${AZURE_PRINCIPAL_ID}", (string?)file["principalId"]!["value"]);
        foreach (var (name, parameter) in file)
        {
            Assert.True(template.ContainsKey(name), $"main.bicep has no parameter {name}");
            var substitution = Substitution().Match((string)parameter!["value"]!);
            Assert.True(substitution.Success, $"{name}: not an azd ${{VARIABLE}} or ${{VARIABLE=default}}");
            if (substitution.Groups["default"].Success)
            {
                var expected = template[name]!["defaultValue"]!.ToJsonString().Trim('"');
                Assert.Equal(expected, substitution.Groups["default"].Value);
            }
        }

        // Whatever has no default must come from somewhere.
        Assert.All(template.Where(p => p.Value!["defaultValue"] is null), p => Assert.True(file.ContainsKey(p.Key), $"{p.Key} has no value"));
    }

    [Fact]
    public void The_postprovision_hook_prints_the_next_steps_and_no_secret()
    {
        var hook = Map(Map(Manifest["hooks"])["postprovision"]);
        var script = Path.Combine(Repository.Root, Map(hook["posix"]).Text("run"));
        var twin = File.ReadAllText(Path.Combine(Repository.Root, Map(hook["windows"]).Text("run")));
        var secrets = Snapshots.AsAzdUpDeploysIt.AppSettings.Values
            .Select(v => KeyVaultSecretName().Match(v)).Where(m => m.Success).Select(m => m.Groups["name"].Value).Order(StringComparer.Ordinal).ToList();
        // Secrets in the hook's own environment must not come out of it.
        var planted = new[] { "v1,whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), Convert.ToHexString(RandomNumberGenerator.GetBytes(16)) };

        var (exitCode, output) = RunHook(script, new Dictionary<string, string>
        {
            ["AZURE_FUNCTION_APP_NAME"] = "func-abc",
            ["AZURE_FUNCTION_URL"] = "https://func-abc.azurewebsites.net",
            ["AZURE_KEY_VAULT_NAME"] = "kv-abc",
            ["AZURE_RESOURCE_GROUP"] = "rg-abc",
            ["ProfileSync__WebhookSecret"] = planted[0],
            ["SUPABASE_DB_URL"] = $"postgresql://postgres:{planted[1]}@db.example.supabase.co:5432/postgres",
        });

        if (!OperatingSystem.IsWindows())
        {
            Assert.True(File.GetUnixFileMode(script).HasFlag(UnixFileMode.UserExecute), $"{script} is not executable");
        }

        Assert.True(exitCode == 0, output);
        Assert.Equal(secrets, HookSecretName().Matches(output).Select(m => m.Groups["name"].Value).Order(StringComparer.Ordinal));
        Assert.Equal(secrets, HookSecretName().Matches(twin).Select(m => m.Groups["name"].Value).Order(StringComparer.Ordinal));
        foreach (var step in new[]
        {
            "https://func-abc.azurewebsites.net", "az keyvault secret set --vault-name kv-abc", "--output none",
            "az functionapp keys list --resource-group rg-abc --name func-abc", "https://func-abc.azurewebsites.net/api/auth-events?code=",
            "'profile_sync_function_url'", "'profile_sync_webhook_secret'", "supabase db push --db-url", "profilesync replay --dry-run",
        })
        {
            Assert.Contains(step, output, StringComparison.Ordinal);
        }

        Assert.All(planted, secret => Assert.DoesNotContain(secret, output, StringComparison.Ordinal));
        // Outside azd it says what it needs, and does nothing else.
        var outside = RunHook(script, []);
        Assert.NotEqual(0, outside.ExitCode);
        Assert.Contains("AZURE_FUNCTION_APP_NAME", outside.Output, StringComparison.Ordinal);
    }

    private static (int ExitCode, string Output) RunHook(string script, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Repository.Root };
        start.ArgumentList.Add(script);
        foreach (var name in new[] { "AZURE_FUNCTION_APP_NAME", "AZURE_FUNCTION_URL", "AZURE_KEY_VAULT_NAME", "AZURE_RESOURCE_GROUP" })
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "the hook did not finish");
        return (process.ExitCode, output.GetAwaiter().GetResult() + errors.GetAwaiter().GetResult());
    }

    [GeneratedRegex(@"^\$\{(?<name>[A-Z][A-Z0-9_]*)(=(?<default>[^}]*))?\}$")]
    private static partial Regex Substitution();

    [GeneratedRegex(@"^@Microsoft\.KeyVault\(SecretUri=https://[^/]+/secrets/(?<name>[A-Za-z0-9-]+)/\)$")]
    private static partial Regex KeyVaultSecretName();

    [GeneratedRegex(@"az keyvault secret set [^\n]*--name (?<name>[A-Za-z0-9-]+)")]
    private static partial Regex HookSecretName();
}
