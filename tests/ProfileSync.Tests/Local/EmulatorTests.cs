using System.Net.Sockets;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Local;

/// <summary>
/// <c>./dev.sh up</c> as a new user runs it, on ports and a directory of its own so a running emulator is left alone:
/// from up to a profile made by the webhook and a metric exported, by following what the tools print.
/// </summary>
public sealed class EmulatorTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "profilesync-emulator-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly int _databasePort = Loopback.FreePort();
    private readonly int _apiPort = Loopback.FreePort();

    [Fact]
    public async Task Up_leads_to_a_profile_made_by_the_webhook_and_an_exported_metric_and_a_second_up_restarts_only_what_changed()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var telemetry = new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        };

        var up = await DevAsync(["up"], telemetry);

        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Contains("profile created by the webhook (profilesync serve) within", up.Output, StringComparison.Ordinal);
        Assert.Contains($"export ProfileSync__ConnectionString='Host=127.0.0.1;Port={_databasePort};", up.Output, StringComparison.Ordinal);
        Assert.Contains("./dev.sh signup", up.Output, StringComparison.Ordinal);

        // What it printed to try next: a fresh e-mail each time, the path that made the profile, the webhook's answer.
        var first = await DevAsync(["signup"]);
        var second = await DevAsync(["signup"]);
        foreach (var signup in new[] { first, second })
        {
            Assert.True(signup.ExitCode == 0, signup.ToString());
            Assert.Contains("profile created by the fallback trigger", signup.Output, StringComparison.Ordinal);
            Assert.Contains("the webhook answered: 200", signup.Output, StringComparison.Ordinal);
        }

        Assert.NotEqual(first.Output.Split(':')[0], second.Output.Split(':')[0]);
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Received("metrics").Contains("profilesync.events", StringComparison.Ordinal)));

        // status uses the emulator with nothing set.
        var status = await DevAsync(["status"]);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("in sync", status.Output + status.Error, StringComparison.OrdinalIgnoreCase);

        // Up again: the database and an unchanged serve are kept; dispatch, whose build "changed", is restarted.
        await File.WriteAllTextAsync(Path.Combine(_directory, "dispatch.build"), "an older build");
        var again = await DevAsync(["up"], telemetry);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("database already running", again.Error, StringComparison.Ordinal);
        Assert.Contains("restarting dispatch: its build changed", again.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("restarting serve", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_stops_at_once_naming_a_taken_port_and_the_way_out()
    {
        using var squatter = new TcpListener(System.Net.IPAddress.Loopback, _apiPort);
        squatter.Start();

        var up = await DevAsync(["up"]);

        Assert.Equal(1, up.ExitCode);
        Assert.Contains($"port {_apiPort} is taken by another program", up.Error, StringComparison.Ordinal);
        Assert.Contains("PROFILESYNC_DEV_API_PORT", up.Error, StringComparison.Ordinal);
        Assert.True(up.Took < TimeSpan.FromSeconds(10), up.ToString());
        Assert.False(Directory.Exists(Path.Combine(_directory, "bin")), "it built before checking its ports");
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (Directory.Exists(_directory))
        {
            await DevAsync(["down"]);
            Directory.Delete(_directory, recursive: true);
        }
    }

    private Task<ExternalProcess.Result> DevAsync(string[] arguments, Dictionary<string, string?>? more = null)
    {
        var environment = new Dictionary<string, string?>(more ?? [])
        {
            ["PROFILESYNC_DEV_DIR"] = _directory,
            ["PROFILESYNC_DEV_DB_PORT"] = _databasePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PROFILESYNC_DEV_API_PORT"] = _apiPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ProfileSync__ConnectionString"] = null, // as a new user has it: unset
        };
        return ExternalProcess.RunAsync("bash", [Path.Combine(Repository.Root, "dev.sh"), .. arguments], environment, TimeSpan.FromMinutes(6));
    }
}
