using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Replay;

/// <summary>
/// Passes over everyone (replay, reconcile, status) are not held to an event's deadline: each statement of theirs has
/// a budget of its own, which the database enforces, and one that runs out is one line naming the setting. A slow
/// whole-pass statement is made here by slowing <c>profile_sync.totals</c> (renamed, and called by a wrapper that
/// sleeps first), which reconcile and status both call.
/// </summary>
public sealed class PassBudgetTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    protected override async Task PrepareAsync()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        for (var i = 0; i < 3; i++)
        {
            await Db.SignUpAsync(email: $"slow{i}@example.com");
        }

        await Db.ExecuteAsync("""
            alter function profile_sync.totals(bigint) rename to totals_unslowed;
            create function profile_sync.totals(missing bigint) returns table (users bigint, profiles bigint, orphaned bigint)
            language sql volatile set search_path = '' as
            'select t.* from (select pg_catalog.pg_sleep(5)) s, profile_sync.totals_unslowed(missing) t';
            """);
    }

    [Fact]
    public async Task A_whole_pass_slower_than_the_event_deadline_completes_with_the_shipped_settings()
    {
        var (exitCode, output, error) = await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString());

        Assert.True(exitCode == 0, error);
        Assert.Contains("Missing                              3   created 3", output, StringComparison.Ordinal);
        var (statusExit, status, _) = await CliRunner.RunAsync("status", "--exit-code", "--connection", Db.ConnectionString());
        Assert.Equal(0, statusExit);
        Assert.Contains("In sync", status, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("replay")]
    [InlineData("status")]
    public async Task A_budget_that_runs_out_is_one_line_that_names_the_setting(string command)
    {
        var result = await ExternalProcess.RunAsync(
            "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"), command, "--connection", Db.ConnectionString()],
            new Dictionary<string, string?> { ["ProfileSync__Passes__StatementTimeout"] = "00:00:01" },
            TimeSpan.FromMinutes(1));

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("profilesync: a statement ran past its time budget (ProfileSync__Passes__StatementTimeout", line, StringComparison.Ordinal);
        Assert.Equal(3L, await Db.ScalarAsync<long>("select count(*) from auth.users u where not exists (select 1 from public.user_profiles p where p.user_id = u.id)"));
    }
}
