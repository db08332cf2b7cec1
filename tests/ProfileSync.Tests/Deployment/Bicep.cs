using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;

namespace ProfileSync.Tests.Deployment;

/// <summary>
/// The Bicep CLI that the test project restores as a NuGet package (PackageDownload), run offline over
/// <c>infra/main.bicep</c>: build, lint, and snapshot (what a deployment with given parameters would create).
/// </summary>
internal static class Bicep
{
    public static readonly string InfraDirectory = Path.Combine(Repository.Root, "infra");
    public static readonly string MainFile = Path.Combine(InfraDirectory, "main.bicep");

    private static readonly Lazy<string> Executable = new(Locate);

    /// <summary>The compiled ARM template, nested modules included, as <c>bicep build</c> writes it.</summary>
    public static string CompiledText => CompiledTemplate.Value;

    public static JsonObject Compiled => JsonNode.Parse(CompiledTemplate.Value)!.AsObject();

    private static readonly Lazy<string> CompiledTemplate = new(() =>
    {
        var build = Run("build", MainFile, "--stdout");
        Assert.True(build.ExitCode == 0, $"bicep build failed:{Environment.NewLine}{build.Errors}");
        return build.Output;
    });

    /// <summary>Every template in the compiled one: main and each module's, nested as deployments.</summary>
    public static IEnumerable<JsonObject> Templates(JsonObject template)
    {
        yield return template;
        foreach (var resource in Resources(template))
        {
            if (resource["properties"] is JsonObject { } properties && properties["template"] is JsonObject nested)
            {
                foreach (var inner in Templates(nested))
                {
                    yield return inner;
                }
            }
        }
    }

    /// <summary>A template's resources, whether listed (the default) or keyed by symbolic name (languageVersion 2.0).</summary>
    public static IEnumerable<JsonObject> Resources(JsonObject template) => template["resources"] switch
    {
        JsonArray list => list.Select(r => r!.AsObject()),
        JsonObject named => named.Select(r => r.Value!.AsObject()),
        _ => [],
    };

    public static BicepResult Run(params string[] arguments)
    {
        var start = new ProcessStartInfo(Executable.Value)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = InfraDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"bicep {string.Join(' ', arguments)} did not finish within 2 minutes");
        }

        return new BicepResult(process.ExitCode, output.GetAwaiter().GetResult(), errors.GetAwaiter().GetResult());
    }

    /// <summary>
    /// What a deployment of <c>main.bicep</c> with these parameters would create, as far as it is known before
    /// deploying (<c>bicep snapshot</c>: modules flattened, parameters and names resolved; runtime values such as
    /// <c>reference()</c> left as expressions, which <see cref="ArmExpression"/> reads).
    /// </summary>
    public static DeploymentSnapshot Snapshot(IReadOnlyDictionary<string, object> parameters)
    {
        var directory = Directory.CreateTempSubdirectory("profilesync-bicep-");
        try
        {
            // A .bicepparam names its template by a relative path.
            var lines = new List<string> { $"using '{Path.GetRelativePath(directory.FullName, MainFile).Replace('\\', '/')}'" };
            lines.AddRange(parameters.Select(p => $"param {p.Key} = {Literal(p.Value)}"));
            var file = Path.Combine(directory.FullName, "deployment.bicepparam");
            File.WriteAllLines(file, lines);

            var result = Run("snapshot", file, "--mode", "overwrite",
                "--tenant-id", DeploymentSnapshot.TenantId, "--subscription-id", DeploymentSnapshot.SubscriptionId,
                "--resource-group", DeploymentSnapshot.ResourceGroup, "--location", DeploymentSnapshot.Location);
            Assert.True(result.ExitCode == 0, $"bicep snapshot failed:{Environment.NewLine}{result.Output}{result.Errors}");
            return new DeploymentSnapshot(JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(file, ".snapshot.json")))!.AsObject());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static string Literal(object value) => value switch
    {
        string text => $"'{text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal)}'",
        bool flag => flag ? "true" : "false",
        int number => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => throw new ArgumentException($"no Bicep literal for {value.GetType()}", nameof(value)),
    };

    // The build passes the package's path in (NuGetPackageRoot is the build's to know). NuGet may extract the file
    // without its execute bit: set it rather than ask anyone to.
    private static string Locate()
    {
        var path = typeof(Bicep).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "BicepPath").Value;
        Assert.True(File.Exists(path), $"The Bicep CLI is not at {path}: restore tests/ProfileSync.Tests (dotnet restore) to download it.");
        if (!OperatingSystem.IsWindows() && !File.GetUnixFileMode(path!).HasFlag(UnixFileMode.UserExecute))
        {
            File.SetUnixFileMode(path!, File.GetUnixFileMode(path!) | UnixFileMode.UserExecute);
        }

        return path!;
    }
}

internal sealed record BicepResult(int ExitCode, string Output, string Errors);
