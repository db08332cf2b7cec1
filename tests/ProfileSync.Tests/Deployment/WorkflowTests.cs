using System.Text.RegularExpressions;
using ProfileSync.Tests.Support;
using static ProfileSync.Tests.Deployment.Yaml;

namespace ProfileSync.Tests.Deployment;

/// <summary>
/// .github/workflows: CI runs the README's test command on a fresh runner; a release deploys by OIDC with azd,
/// applies the migrations and checks itself; no credential is written in either file.
/// </summary>
public sealed partial class WorkflowTests
{
    [Fact]
    public async Task Every_workflow_passes_GitHubs_workflow_schema_and_a_misspelt_one_does_not()
    {
        // action-validator (npm, tests/tools; ./dev.sh test installs it) checks a file against the schema GitHub's
        // workflows follow, offline. The misspelt copy shows it reads what it is given.
        var validator = Path.Combine(Repository.Root, "tests", "tools", "node_modules", ".bin", "action-validator");
        Assert.True(File.Exists(validator), $"{validator} is missing: ./dev.sh test installs it (npm ci --prefix tests/tools)");
        var workflows = Directory.GetFiles(Path.Combine(Repository.Root, ".github", "workflows"), "*.yml");
        var misspelt = Path.Combine(Path.GetTempPath(), $"workflow-{Guid.NewGuid():N}.yml");
        await File.WriteAllTextAsync(misspelt, (await File.ReadAllTextAsync(workflows[0])).Replace("runs-on:", "run-on:", StringComparison.Ordinal));
        try
        {
            foreach (var workflow in workflows)
            {
                var checkedFile = await ExternalProcess.RunAsync(validator, [workflow], timeout: TimeSpan.FromMinutes(1));
                Assert.True(checkedFile.ExitCode == 0, $"{Path.GetFileName(workflow)}: {checkedFile}");
            }

            Assert.NotEqual(0, (await ExternalProcess.RunAsync(validator, [misspelt], timeout: TimeSpan.FromMinutes(1))).ExitCode);
        }
        finally
        {
            File.Delete(misspelt);
        }
    }

    [Fact]
    public void CI_runs_the_readme_test_command_on_ubuntu_latest_with_PostgreSQL_15()
    {
        var ci = Load(".github", "workflows", "ci.yml");
        var job = Assert.Single(Jobs(ci));
        var steps = Steps(job);
        var tests = steps.FindIndex(s => s.Text("run").Trim() == "./dev.sh test");
        var postgres = steps.FindIndex(s => s.Text("run").Contains("apt.postgresql.org", StringComparison.Ordinal));

        Assert.True(Map(ci["on"]).ContainsKey("push") && Map(ci["on"]).ContainsKey("pull_request"));
        Assert.Equal("ubuntu-latest", job.Text("runs-on"));
        Assert.Contains(steps, s => s.Uses("actions/checkout"));
        Assert.Equal("global.json", steps.Single(s => s.Uses("actions/setup-dotnet")).MapOf("with").Text("global-json-file"));
        Assert.Contains("./dev.sh test", File.ReadAllText(Path.Combine(Repository.Root, "README.md")), StringComparison.Ordinal);
        Assert.True(tests >= 0, "no step runs ./dev.sh test");
        // dev.sh installs postgresql-15, which ubuntu-latest's apt sources lack until PGDG is added, and 15's
        // pg_config must be the one found.
        Assert.Contains("postgresql-15", File.ReadAllText(Path.Combine(Repository.Root, "dev.sh")), StringComparison.Ordinal);
        Assert.True(postgres >= 0 && postgres < tests, "PostgreSQL's apt repository is not added before ./dev.sh test");
        Assert.Contains("/usr/lib/postgresql/15/bin", steps[postgres].Text("run"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_release_signs_in_by_OIDC_migrates_deploys_with_azd_and_checks_itself()
    {
        var deploy = Load(".github", "workflows", "deploy.yml");
        var on = Map(deploy["on"]);
        var job = Assert.Single(Jobs(deploy));
        var steps = Steps(job);
        var login = steps.Single(s => s.Uses("azure/login")).MapOf("with");
        var migrate = steps.FindIndex(s => s.Text("run").Contains("supabase@", StringComparison.Ordinal));
        var deployed = steps.FindIndex(s => s.Text("run").Contains("azd deploy", StringComparison.Ordinal));
        var health = steps.FindIndex(s => s.Text("run").Contains("/api/health", StringComparison.Ordinal));
        var status = steps.FindIndex(s => s.Text("run").Contains("dotnet run --project functions/ProfileSync.Cli -- status", StringComparison.Ordinal));

        Assert.True(on.ContainsKey("workflow_dispatch"));
        Assert.Contains("v*", List(Map(on["push"])["tags"]));
        Assert.Equal(("write", "read"), (Map(deploy["permissions"]).Text("id-token"), Map(deploy["permissions"]).Text("contents")));
        Assert.Equal("v2", steps.Single(s => s.Uses("azure/login")).Text("uses").Split('@')[1]);
        foreach (var key in new[] { "client-id", "tenant-id", "subscription-id" })
        {
            Assert.Matches(FromVarsOrSecrets(), login.Text(key));
        }

        Assert.DoesNotContain("creds", login.Keys); // a stored service principal secret
        Assert.Contains(steps, s => s.Uses("Azure/setup-azd"));
        Assert.Contains("--federated-credential-provider github", string.Join('\n', steps.Select(s => s.Text("run"))), StringComparison.Ordinal);
        foreach (var name in new[] { "AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP" })
        {
            Assert.Matches(FromVarsOrSecrets(), job.MapOf("env").Text(name));
        }

        Assert.True(migrate >= 0 && deployed > migrate && health > deployed && status > health,
            "expected, in order: the migrations, azd deploy, the health check, profilesync status");
        var push = SupabaseDbPush().Match(steps[migrate].Text("run"));
        Assert.True(push.Success, steps[migrate].Text("run"));
        Assert.Matches(FromSecrets(), steps[migrate].MapOf("env").Text(push.Groups["url"].Value));
        Assert.Contains("--no-prompt", steps[deployed].Text("run"), StringComparison.Ordinal);
        Assert.Contains("curl -fsS", steps[health].Text("run"), StringComparison.Ordinal);
        Assert.Matches(FromSecrets(), steps[status].MapOf("env").Text("ProfileSync__ConnectionString"));
        Assert.True(File.Exists(Path.Combine(Repository.Root, "functions", "ProfileSync.Cli", "ProfileSync.Cli.csproj")));
    }

    [Theory]
    [InlineData("ci.yml")]
    [InlineData("deploy.yml")]
    public void A_workflow_writes_no_credential_or_id(string file)
    {
        var text = File.ReadAllText(Path.Combine(Repository.Root, ".github", "workflows", file));
        var workflow = Load(".github", "workflows", file);

        Assert.DoesNotMatch(GuidLiteral(), text);
        Assert.DoesNotMatch(SecretLooking(), text);
        foreach (var job in Jobs(workflow))
        {
            var values = job.MapOf("env").Concat(Steps(job).SelectMany(s => s.MapOf("env").Concat(s.MapOf("with"))));
            foreach (var (key, value) in values.Where(v => SensitiveName().IsMatch((string)v.Key)))
            {
                Assert.True(FromVarsOrSecrets().IsMatch(value as string ?? ""), $"{file}: {key} is not from vars or secrets");
            }
        }
    }

    [Fact]
    public void Every_variable_and_secret_a_workflow_reads_is_explained_in_the_deployment_guide()
    {
        var guide = File.ReadAllText(Path.Combine(Repository.Root, "docs", "deployment.md"));
        var names = Directory.GetFiles(Path.Combine(Repository.Root, ".github", "workflows"), "*.yml")
            .SelectMany(f => VarOrSecret().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value))
            .Distinct(StringComparer.Ordinal).ToList();

        Assert.NotEmpty(names);
        Assert.All(names, name => Assert.Contains($"`{name}`", guide, StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^\$\{\{\s*(vars|secrets)\.[A-Z][A-Z0-9_]*\s*\}\}$")]
    private static partial Regex FromVarsOrSecrets();

    [GeneratedRegex(@"^\$\{\{\s*secrets\.[A-Z][A-Z0-9_]*\s*\}\}$")]
    private static partial Regex FromSecrets();

    [GeneratedRegex(@"\$\{\{\s*(vars|secrets)\.(?<name>[A-Z][A-Z0-9_]*)\s*\}\}")]
    private static partial Regex VarOrSecret();

    [GeneratedRegex(@"supabase(@[0-9.]+)? db push --db-url ""\$(?<url>[A-Z_]+)""")]
    private static partial Regex SupabaseDbPush();

    [GeneratedRegex(@"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")]
    private static partial Regex GuidLiteral();

    [GeneratedRegex(@"whsec_|AccountKey=|SharedAccessSignature|Password=|postgres(ql)?://[^$\s""']*:[^@\s""']+@|-----BEGIN|eyJ[A-Za-z0-9_-]{20,}|ghp_[A-Za-z0-9]{20,}", RegexOptions.IgnoreCase)]
    private static partial Regex SecretLooking();

    [GeneratedRegex(@"client-id|tenant-id|subscription-id|CLIENT_ID|TENANT_ID|SUBSCRIPTION_ID|secret|password|token|key|connection|db_url|creds", RegexOptions.IgnoreCase)]
    private static partial Regex SensitiveName();
}
