using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProfileSync.Replay;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// No single user stops a pass: a profile that cannot be written (here, refused by a check constraint of the test's
/// own, as a project may add) sets its user aside, every other user converges, and every path says so: replay (CLI,
/// HTTP, the replayer of the timer), <c>profile_sync.reconcile()</c>, the webhook, the fallback trigger, status and
/// explain. Nothing of the refused row reaches any log.
/// </summary>
public sealed class SetAsideTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private const int Users = 240;
    private const string Refused = "refused_for_the_test";

    private Guid _refused;
    private string _refusedEmail = null!;

    protected override async Task PrepareAsync()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        for (var i = 0; i < Users; i++)
        {
            await Db.SignUpAsync(email: $"user{i}@example.com", userMetadata: """{"full_name":"Some One"}""");
        }

        _refusedEmail = $"refused-{Guid.NewGuid():N}@example.com";
        _refused = await Db.SignUpAsync(email: _refusedEmail, userMetadata: """{"full_name":"Refused Person"}""");
        // A project's own rule that this one user's profile breaks.
        await Db.ExecuteAsync($"alter table public.user_profiles add constraint {Refused} check (email is distinct from '{_refusedEmail}') not valid");
    }

    [Theory]
    [InlineData(10_000)] // the first pass: profile_sync.reconcile() converges everyone at once
    [InlineData(100)] // in key-range batches: profile_sync.converge_range()
    public async Task A_replay_sets_aside_the_one_user_it_cannot_write_and_converges_everyone_else(int batchSize)
    {
        var (exitCode, output, error) = await CliRunner.RunAsync("replay", "--batch-size", batchSize.ToString(System.Globalization.CultureInfo.InvariantCulture), "--connection", Db.ConnectionString());

        Assert.Equal(1, exitCode);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"profilesync: 1 profile could not be written and was set aside ({_refused}); every other user converged. See why: profilesync explain --user-id {_refused}", line.TrimEnd());
        Assert.Contains($"Could not be written                 1   set aside: {_refused}", output, StringComparison.Ordinal);
        Assert.Contains($"Missing                            {Users + 1}   created {Users}", output, StringComparison.Ordinal);
        await AssertEveryoneElseConvergedAsync();

        // Run again: the same user, nothing else to do.
        var again = await ReplayAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
        Assert.Equal((1L, 0L, 1L), (again.Missing, again.Created, again.Failed));
        Assert.Equal([_refused], again.FailedUserIds);
    }

    [Fact]
    public async Task Reconcile_in_SQL_sets_the_user_aside_and_converges_everyone_else()
    {
        await using var command = Db.As().CreateCommand("select * from profile_sync.reconcile()");
        await using (var reader = await command.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(Users + 1L, reader.GetInt64(reader.GetOrdinal("missing")));
            Assert.Equal((long)Users, reader.GetInt64(reader.GetOrdinal("created")));
            Assert.Equal(1L, reader.GetInt64(reader.GetOrdinal("failed")));
            Assert.Equal([_refused], reader.GetFieldValue<Guid[]>(reader.GetOrdinal("failed_sample")));
            Assert.True(reader.GetBoolean(reader.GetOrdinal("converged")));
        }

        await AssertEveryoneElseConvergedAsync();
    }

    [Fact]
    public async Task A_replay_of_some_users_counts_the_one_set_aside_as_what_it_found()
    {
        var some = await Db.ScalarAsync<Guid[]>("select array(select id from auth.users where email like 'user1%' limit 5)");

        var report = await ReplayAsync(new ReplayRequest(new ReplayScope([.. some, _refused])));

        Assert.Equal((6L, 6L, 5L, 1L), (report.Scanned, report.Missing, report.Created, report.Failed));
        Assert.Equal([_refused], report.FailedUserIds);
    }

    [Fact]
    public async Task The_replay_route_answers_200_with_the_users_set_aside()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());

        using var response = await served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(Users, answer.GetProperty("created").GetInt64());
        Assert.Equal(1, answer.GetProperty("failed").GetInt64());
        Assert.Equal(_refused, Assert.Single(answer.GetProperty("failedUserIds").EnumerateArray()).GetGuid());
        await AssertEveryoneElseConvergedAsync();
    }

    [Fact]
    public async Task The_webhook_answers_200_failed_for_the_user_and_logs_nothing_of_the_row()
    {
        var logs = new CapturedLogs();
        await using var served = await ServedApp.StartAsync(Db.ConnectionString(), logs: logs);
        var someone = await Db.ScalarAsync<Guid>("select id from auth.users where email = 'user7@example.com'");

        Assert.Equal((HttpStatusCode.OK, "failed"), await served.SendAsync(SupabaseEvents.Update(_refused, _refusedEmail)));
        Assert.Equal((HttpStatusCode.OK, "created"), await served.SendAsync(SupabaseEvents.Update(someone, "user7@example.com")));

        Assert.Null(await Db.ProfileAsync(_refused));
        LogAudit.Check(logs, requests: 2, personal: [_refusedEmail, "Refused Person", "user7@example.com", "Some One"]);
        Assert.Contains(logs.Lines, l => l.Level == Microsoft.Extensions.Logging.LogLevel.Warning && l.Message.Contains($"for user {_refused}: the profile cannot be written and was set aside", StringComparison.Ordinal));
        Assert.Equal("webhook", await Db.ScalarAsync<string>("select via from profile_sync.convergence_failures where user_id = $1", "postgres", _refused));
    }

    [Fact]
    public async Task The_fallback_warns_without_the_row_sets_the_user_aside_and_the_signup_commits()
    {
        await Db.SetFallbackTriggerAsync(enabled: true);
        var email = $"refused2-{Guid.NewGuid():N}@example.com";
        await Db.ExecuteAsync($"alter table public.user_profiles drop constraint {Refused}; alter table public.user_profiles add constraint {Refused} check (email not like 'refused%') not valid");
        var warnings = new List<string>();
        await using var connection = await Db.As("supabase_auth_admin").OpenConnectionAsync();
        connection.Notice += (_, e) => warnings.Add(e.Notice.MessageText);
        var userId = Guid.NewGuid();
        await using (var insert = new Npgsql.NpgsqlCommand(
            $"""
            insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', '{userId}', 'authenticated', 'authenticated', '{email}', '{"{"}"full_name":"Refused Person"{"}"}', '{"{"}{"}"}', now(), now())
            """, connection))
        {
            await insert.ExecuteNonQueryAsync();
        }

        Assert.Equal(1L, await Db.ScalarAsync<long>("select count(*) from auth.users where id = $1", "postgres", userId));
        Assert.Null(await Db.ProfileAsync(userId));
        var warning = Assert.Single(warnings);
        Assert.Equal($"profile_sync: no profile converged for auth user {userId} (SQLSTATE 23514, constraint {Refused})", warning);
        Assert.Equal(("auth_trigger", "SQLSTATE 23514, constraint " + Refused),
            (await Db.ScalarAsync<string>("select via from profile_sync.failed_profiles where user_id = $1", "postgres", userId),
             await Db.ScalarAsync<string>("select reason from profile_sync.failed_profiles where user_id = $1", "postgres", userId)));
    }

    [Fact]
    public async Task Status_and_explain_show_the_user_and_why_until_the_cause_is_fixed()
    {
        await ReplayAsync(new ReplayRequest(new ReplayScope()));

        var (_, text, _) = await CliRunner.RunAsync("status", "--connection", Db.ConnectionString());
        Assert.Contains("Could not be written                 1   set aside by the last convergence that met them:", text, StringComparison.Ordinal);
        Assert.Contains($"  {_refused}   SQLSTATE 23514, constraint {Refused}", text, StringComparison.Ordinal);
        var (_, json, _) = await CliRunner.RunAsync("status", "--json", "--connection", Db.ConnectionString());
        var status = JsonNode.Parse(json)!;
        Assert.Equal(1, (long)status["failedProfiles"]!);
        Assert.Equal(_refused.ToString(), (string?)status["sampleFailedProfiles"]![0]!["userId"]);
        Assert.False((bool)status["inSync"]!);
        var (_, explained, _) = await CliRunner.RunAsync("explain", "--user-id", _refused.ToString(), "--connection", Db.ConnectionString());
        Assert.Contains($"Set aside:      the replay could not write the profile at ", explained, StringComparison.Ordinal);
        Assert.Contains($"SQLSTATE 23514, constraint {Refused} (new row for relation \"user_profiles\" violates check constraint \"{Refused}\")", explained, StringComparison.Ordinal);

        // The cause fixed, the next replay converges the user and the entry goes.
        await Db.ExecuteAsync($"alter table public.user_profiles drop constraint {Refused}");
        var healed = await ReplayAsync(new ReplayRequest(new ReplayScope()));
        Assert.Equal((1L, 0L), (healed.Created, healed.Failed));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from profile_sync.failed_profiles"));
        var (exitCode, _, _) = await CliRunner.RunAsync("status", "--exit-code", "--connection", Db.ConnectionString());
        Assert.Equal(0, exitCode);
    }

    [Fact]
    public async Task Nothing_of_the_refused_row_reaches_the_database_log()
    {
        await CliRunner.RunAsync("replay", "--batch-size", "100", "--connection", Db.ConnectionString());
        await Db.ExecuteAsync("select * from profile_sync.reconcile()");
        await using (var served = await ServedApp.StartAsync(Db.ConnectionString()))
        {
            await served.SendAsync(SupabaseEvents.Update(_refused, _refusedEmail));
        }

        Assert.DoesNotContain(_refusedEmail, await File.ReadAllTextAsync(Cluster.ServerLog), StringComparison.Ordinal);
    }

    private async Task<ReplayReport> ReplayAsync(ReplayRequest request)
    {
        await using var services = TestServices.Build(Db.ConnectionString());
        return await services.GetRequiredService<ProfileReplayer>().RunAsync(request);
    }

    /// <summary>Every user but the refused one has the profile auth.users implies; the refused one has none.</summary>
    private async Task AssertEveryoneElseConvergedAsync()
    {
        var derived = (await Truth.DerivedAsync(Db)).Where(p => p.UserId != _refused).ToList();
        Assert.Equal(Users, derived.Count);
        Assert.Equal(derived, await Truth.ProfilesAsync(Db));
        Assert.Equal(_refused, await Db.ScalarAsync<Guid>("select user_id from profile_sync.failed_profiles"));
    }
}
