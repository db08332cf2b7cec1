using System.Text.Json;
using ProfileSync.Cli;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Cli;

/// <summary>The case the product started from: 5 auth users, 2 profiles, 3 people silently without one.</summary>
public sealed class StartingCaseTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private readonly List<Guid> _users = [];

    protected override async Task PrepareAsync()
    {
        _users.AddRange(await Db.SeedStartingCaseAsync());
    }

    [Fact]
    public async Task Status_reports_the_three_users_without_a_profile()
    {
        var (exitCode, output, _) = await RunAsync("status", "--json");

        Assert.Equal(0, exitCode);
        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        Assert.Equal(5, root.GetProperty("authUsers").GetInt64());
        Assert.Equal(2, root.GetProperty("profiles").GetInt64());
        Assert.Equal(3, root.GetProperty("usersWithoutProfile").GetInt64());
        Assert.Equal(0, root.GetProperty("profilesWithoutUser").GetInt64());
        var sample = root.GetProperty("sampleUsersWithoutProfile").EnumerateArray().Select(e => e.GetGuid()).Order();
        Assert.Equal(_users[2..].Order(), sample);
    }

    [Fact]
    public async Task Status_prints_a_readable_report_with_the_missing_ids()
    {
        var (exitCode, output, _) = await RunAsync("status");

        Assert.Equal(0, exitCode);
        Assert.Matches(@"Users without a profile\s+3", output);
        Assert.Contains(_users[4].ToString(), output, StringComparison.Ordinal);
        Assert.Contains("profilesync replay", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_with_exit_code_says_drifting_by_its_exit_code_and_in_sync_by_zero()
    {
        Assert.Equal(ProfileSyncCli.Drifting, (await RunAsync("status", "--exit-code")).ExitCode);
        Assert.Equal(0, (await RunAsync("status")).ExitCode); // without the flag, drift is not a failure

        await Db.ExecuteAsync("select * from profile_sync.reconcile()");

        Assert.Equal(0, (await RunAsync("status", "--exit-code", "--json")).ExitCode);
    }

    [Fact]
    public async Task Backfill_gives_every_user_exactly_one_profile_and_leaves_the_old_two_unchanged()
    {
        var before = await Db.ProfilesJsonAsync(_users[0], _users[1]);

        var created = await Db.ScalarAsync<long>("select created from profile_sync.reconcile()");

        Assert.Equal(3L, created);
        foreach (var user in _users)
        {
            Assert.Equal(1L, await Db.ProfileCountAsync(user));
        }

        Assert.Equal(before, await Db.ProfilesJsonAsync(_users[0], _users[1]));
        Assert.All(_users[2..], user => Assert.Equal("replay", Db.ProfileAsync(user).Result!.CreatedVia));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select created from profile_sync.reconcile()"));

        var (_, output, _) = await RunAsync("status");
        Assert.Contains("In sync", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_reports_profiles_whose_user_is_gone()
    {
        await Db.ExecuteAsync("alter table public.user_profiles drop constraint user_profiles_user_id_fkey");
        await Db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", _users[1]);

        var (_, output, _) = await RunAsync("status", "--json");

        using var report = JsonDocument.Parse(output);
        Assert.Equal(1, report.RootElement.GetProperty("profilesWithoutUser").GetInt64());
        Assert.Equal(_users[1], report.RootElement.GetProperty("sampleProfilesWithoutUser")[0].GetGuid());
    }

    [Fact]
    public async Task Status_without_a_connection_string_names_both_ways_to_give_one()
    {
        var (exitCode, _, error) = await CliRunner.RunAsync("status");

        Assert.Equal(ProfileSyncCli.UsageError, exitCode);
        Assert.Contains("ProfileSync__ConnectionString is not set and no --connection was given", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_against_an_unreachable_database_fails_with_a_clear_message()
    {
        var (exitCode, _, error) = await CliRunner.RunAsync(
            "status", "--connection", "Host=127.0.0.1;Port=1;Username=postgres;Password=postgres;Timeout=2");

        Assert.Equal(ProfileSyncCli.Failure, exitCode);
        Assert.Contains("the database failed", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", error, StringComparison.OrdinalIgnoreCase);
    }

    private Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args) =>
        CliRunner.RunAsync([.. args, "--connection", Db.ConnectionString()]);
}
