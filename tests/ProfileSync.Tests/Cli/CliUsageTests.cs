using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ProfileSync.Cli;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Cli;

/// <summary>What a user can get wrong on the command line: exit 2, one clear line naming what they typed, no stack trace.</summary>
public sealed class CliUsageTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    [Theory]
    [InlineData("--user-id 'nope' is not a user id", "replay", "--user-id", "nope")]
    [InlineData("--user-id '6f1c?' is not a user id", "replay", "--user-id", "6f1c…")]
    [InlineData("--batch-size 'abc' is not a whole number", "replay", "--batch-size", "abc")]
    [InlineData("--created-after 'yesterday' is not a time", "replay", "--created-after", "yesterday")]
    [InlineData("--created-before 'soon' is not a time", "replay", "--created-before", "soon")]
    [InlineData("'--bogus'", "status", "--bogus")]
    [InlineData("'--bogus'", "--bogus")]
    [InlineData("Required command was not provided", new string[0])]
    [InlineData("'frobnicate'", "frobnicate")]
    public async Task Usage_errors_exit_2_naming_what_was_typed(string message, params string[] args)
    {
        var (exitCode, _, error) = await CliRunner.RunAsync([.. args, "--connection", Db.ConnectionString()]);

        Assert.Equal(ProfileSyncCli.UsageError, exitCode);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.Contains("profilesync --help", error, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from public.user_profiles"));
    }

    [Fact]
    public async Task Help_lists_the_product_commands_and_not_the_emulators_dispatch()
    {
        var (exitCode, output, _) = await CliRunner.RunAsync("--help");

        Assert.Equal(ProfileSyncCli.Success, exitCode);
        foreach (var command in new[] { "status", "replay", "serve" })
        {
            Assert.Matches($@"(?m)^\s+{command}\b", output); // a line of the commands list
        }

        // pg_net's worker stand-in belongs to the local emulator (supabase/local/PgNetWorker), not to what users install.
        Assert.DoesNotContain("dispatch", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_bad_connection_flag_is_named_as_the_flag()
    {
        var (exitCode, _, error) = await CliRunner.RunAsync("status", "--connection", "Hots=db.example.com;Password=hunter2");

        Assert.Equal(ProfileSyncCli.UsageError, exitCode);
        Assert.Contains("--connection is not a valid connection string", error, StringComparison.Ordinal);
        Assert.DoesNotContain("ProfileSync__ConnectionString", error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_supabase_connection_uri_works_wherever_a_connection_string_does()
    {
        var uri = Db.ConnectionUri();
        await Db.SignUpAsync(email: "uri@example.com");

        var (exitCode, output, error) = await CliRunner.RunAsync("status", "--json", "--connection", uri);

        Assert.True(exitCode == ProfileSyncCli.Success, error);
        Assert.Contains("\"authUsers\": 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_command_is_named_first_and_alone()
    {
        var (_, _, error) = await CliRunner.RunAsync("frobnicate", "--connection", Db.ConnectionString());

        Assert.StartsWith("profilesync: Unrecognized command or argument 'frobnicate'", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Required command", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_on_a_port_in_use_says_so_in_one_line_and_exits_1_without_a_stack_trace()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (exitCode, output, error) = await ServeAsync(port, new Dictionary<string, string?>());

        Assert.Equal(ProfileSyncCli.Failure, exitCode);
        Assert.Equal($"profilesync: cannot listen on http://127.0.0.1:{port}: another program is using it. Choose another with --urls.", error.Trim());
        Assert.Equal("", output.Trim());
    }

    [Theory]
    [InlineData(null, "No way to authenticate auth events")]
    [InlineData("v1,whsec_cmVwbGFjZS1tZS13aXRoLWEtcmFuZG9tLTMyLWJ5dGUtc2VjcmV0", "ProfileSync__WebhookSecret is the sample's placeholder")]
    public async Task Serve_with_a_missing_or_placeholder_secret_says_so_in_one_line_and_nothing_else(string? secret, string named)
    {
        var (exitCode, output, error) = await ServeAsync(Loopback.FreePort(), new Dictionary<string, string?>
        {
            ["ProfileSync__WebhookSecret"] = secret,
            ["ProfileSync__WebhookBearerToken"] = null,
        });

        Assert.Equal(ProfileSyncCli.UsageError, exitCode);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("profilesync: ", line, StringComparison.Ordinal);
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.Equal("", output.Trim());
    }

    [Theory]
    [InlineData("ProfileSync__Resilience__Deadline", "00:00:00", "ProfileSync__Resilience__Deadline must be a time span from 00:00:00.010 to 1.00:00:00.")]
    [InlineData("ProfileSync__Resilience__BreakerFailureRatio", "1.5", "ProfileSync__Resilience__BreakerFailureRatio must be more than 0 and at most 1.")]
    [InlineData("ProfileSync__Passes__StatementTimeout", "00:00:00", "ProfileSync__Passes__StatementTimeout must be a time span from 00:00:01 to 1.00:00:00, such as 00:30:00.")]
    [InlineData("ProfileSync__MaxEventBytes", "10", "ProfileSync__MaxEventBytes must be at least 1024.")]
    public async Task A_setting_out_of_range_in_any_section_is_refused_in_one_line_naming_it(string setting, string value, string expected)
    {
        var (exitCode, output, error) = await RunAsync(["status"], new Dictionary<string, string?> { [setting] = value });

        Assert.Equal(ProfileSyncCli.UsageError, exitCode);
        Assert.Equal($"profilesync: {expected}", Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
        Assert.Equal("", output.Trim());
    }

    [Fact]
    public async Task Settings_out_of_range_in_several_sections_are_each_named_in_a_line_of_their_own()
    {
        var (exitCode, _, error) = await RunAsync(["status"], new Dictionary<string, string?>
        {
            ["ProfileSync__Resilience__MaxRetryAttempts"] = "0",
            ["ProfileSync__Passes__HttpReplayBudget"] = "00:00:00",
        });

        Assert.Equal(ProfileSyncCli.UsageError, exitCode);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains(lines, line => line.StartsWith("profilesync: ProfileSync__Resilience__MaxRetryAttempts must be at least 1", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("profilesync: ProfileSync__Passes__HttpReplayBudget must be", StringComparison.Ordinal));
    }

    /// <summary>profilesync serve as its own process, with the test settings but for <paramref name="overrides"/> (null: unset).</summary>
    private Task<(int ExitCode, string Output, string Error)> ServeAsync(int port, Dictionary<string, string?> overrides) =>
        RunAsync(["serve", "--urls", $"http://127.0.0.1:{port}"], overrides);

    /// <summary>profilesync as its own process (settings are environment variables), with the test settings but for <paramref name="overrides"/> (null: unset).</summary>
    private async Task<(int ExitCode, string Output, string Error)> RunAsync(string[] args, Dictionary<string, string?> overrides)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])[Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"), .. args])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ProfileSync__ConnectionString"] = Db.ConnectionString();
        foreach (var (key, value) in SupabaseEvents.Settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        foreach (var (key, value) in overrides)
        {
            start.Environment[key] = value;
        }

        using var serve = Process.Start(start)!;
        var output = serve.StandardOutput.ReadToEndAsync();
        var error = serve.StandardError.ReadToEndAsync();
        using var within = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await serve.WaitForExitAsync(within.Token);
        return (serve.ExitCode, await output, await error);
    }
}
