using System.Text.Json;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Functions;

/// <summary>
/// The function app's own process, started as the Functions host starts a worker (its command line), with settings
/// that cannot work: it says which and why, one line each, and exits 1 before it tries to reach the host.
/// </summary>
public sealed class FunctionAppStartupTests
{
    [Fact]
    public async Task The_samples_placeholders_stop_it_with_one_line_each_and_no_stack_trace()
    {
        var result = await StartWorkerAsync(SampleSettings());

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(
            [
                "ProfileFunctions cannot start: ProfileSync__WebhookSecret is the sample's placeholder: make a random one (openssl rand -base64 32; a webhook secret is v1,whsec_ and that).",
                "ProfileFunctions cannot start: ProfileSync__WebhookBearerToken is the sample's placeholder: make a random one (openssl rand -base64 32; a webhook secret is v1,whsec_ and that).",
            ],
            Lines(result.Error));
        Assert.DoesNotContain("Unhandled exception", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_supabase_uri_is_accepted_and_only_the_setting_that_is_wrong_is_named()
    {
        var result = await StartWorkerAsync(new Dictionary<string, string?>
        {
            ["ProfileSync__ConnectionString"] = "postgresql://postgres.abcdefghij:s3cr%40t@127.0.0.1:1/postgres?sslmode=disable",
            ["ProfileSync__WebhookBearerToken"] = new string('k', 40),
            ["ProfileSync__MaxEventBytes"] = "10",
        });

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(["ProfileFunctions cannot start: ProfileSync__MaxEventBytes must be at least 1024."], Lines(result.Error));
        Assert.DoesNotContain("s3cr", result.Output + result.Error, StringComparison.Ordinal);
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>local.settings.sample.json's Values, as <c>func start</c> would hand them to the worker.</summary>
    private static Dictionary<string, string?> SampleSettings()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "local.settings.sample.json")));
        return sample.RootElement.GetProperty("Values").EnumerateObject().ToDictionary(value => value.Name, value => (string?)value.Value.GetString());
    }

    private static Task<ExternalProcess.Result> StartWorkerAsync(Dictionary<string, string?> settings)
    {
        // Nothing from this machine's environment: only the settings given.
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            if (key.StartsWith("ProfileSync__", StringComparison.OrdinalIgnoreCase) || key.StartsWith("OTEL_", StringComparison.Ordinal)
                || key == "APPLICATIONINSIGHTS_CONNECTION_STRING")
            {
                settings.TryAdd(key, null);
            }
        }

        // The command line the Functions host gives a worker; port 9 (discard) is never reached.
        return ExternalProcess.RunAsync(
            "dotnet",
            [
                Path.Combine(AppContext.BaseDirectory, "ProfileFunctions.dll"),
                "--host", "127.0.0.1", "--port", "9", "--workerId", "w1", "--requestId", "r1", "--grpcMaxMessageLength", "2147483647",
                "--functions-uri", "http://127.0.0.1:9/", "--functions-worker-id", "w1", "--functions-request-id", "r1",
                "--functions-grpc-max-message-length", "2147483647",
            ],
            settings,
            TimeSpan.FromMinutes(1));
    }
}
