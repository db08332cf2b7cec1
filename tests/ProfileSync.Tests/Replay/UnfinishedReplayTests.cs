using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Replay;

/// <summary>
/// An HTTP replay of everyone answers within the host's limit for a request (230 s on Azure) at any size: 200 when
/// done, 202 with what it did when its time (<c>ProfileSync__Passes__HttpReplayBudget</c>) ran out first. The next
/// replay of everyone (the route again, the CLI, the timer) goes on from where it stopped; status shows it meanwhile.
/// Batches are made slow here by slowing <c>profile_sync.converge_range</c> (renamed, and called by a wrapper that
/// sleeps first), so a one-second budget runs out after a batch or two of 100 users.
/// </summary>
public sealed class UnfinishedReplayTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private const int Users = 600;

    private static readonly Dictionary<string, string?> OneSecond = new() { ["ProfileSync:Passes:HttpReplayBudget"] = "00:00:01" };

    protected override async Task PrepareAsync()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        await Db.SignUpManyAsync(Users);
        await Db.ExecuteAsync("""
            alter function profile_sync.converge_range(uuid, uuid, text, boolean) rename to converge_range_unslowed;
            create function profile_sync.converge_range(after uuid, upto uuid, via text, dry_run boolean default false)
            returns table (users bigint, missing bigint, stale bigint, orphaned bigint, created bigint, refreshed bigint,
                           removed bigint, failed bigint, failed_sample uuid[])
            language sql volatile set search_path = '' as
            'select c.* from (select pg_catalog.pg_sleep(0.4)) s, profile_sync.converge_range_unslowed(after, upto, via, dry_run) c';
            """);
    }

    [Fact]
    public async Task An_http_replay_of_everyone_answers_202_when_its_time_runs_out_and_the_next_one_goes_on_from_there()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString(), OneSecond);

        using var first = await PostAsync(served, """{"batchSize":100}""");
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var answer = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(answer.GetProperty("complete").GetBoolean());
        Assert.False(answer.GetProperty("resumed").GetBoolean());
        Assert.InRange(answer.GetProperty("done").GetDouble(), 0.01, 0.99);
        var created = answer.GetProperty("created").GetInt64();
        Assert.InRange(created, 100, Users - 100);
        Assert.Equal(Users - created, await Db.UsersWithoutProfileAsync());

        // Meanwhile status says how far it got, and that the next replay goes on from there.
        var (_, status, _) = await CliRunner.RunAsync("status", "--connection", Db.ConnectionString());
        Assert.Contains("Unfinished replay", status, StringComparison.Ordinal);
        Assert.Contains("the next replay of everyone goes on from there", status, StringComparison.Ordinal);

        // Again until done: each answer within the budget and a batch, none creating what another did.
        var answers = 1;
        HttpStatusCode last;
        do
        {
            using var again = await PostAsync(served, """{"batchSize":100}""");
            last = again.StatusCode;
            Assert.True(last is HttpStatusCode.OK or HttpStatusCode.Accepted, $"answered {last}");
            var body = await again.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(body.GetProperty("resumed").GetBoolean());
            Assert.Equal(last == HttpStatusCode.OK, body.GetProperty("complete").GetBoolean());
            created += body.GetProperty("created").GetInt64();
            answers++;
        }
        while (last == HttpStatusCode.Accepted && answers < 10);

        Assert.Equal(HttpStatusCode.OK, last);
        Assert.Equal(Users, created);
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from profile_sync.unfinished_replays"));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));

        // Done: the next replay of everyone starts over with the pass over everyone, which finds nothing.
        using var inSync = await PostAsync(served, "{}");
        Assert.Equal(HttpStatusCode.OK, inSync.StatusCode);
        var final = await inSync.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((Users, 0L, false), (final.GetProperty("scanned").GetInt64(), final.GetProperty("created").GetInt64(), final.GetProperty("resumed").GetBoolean()));
    }

    [Fact]
    public async Task The_cli_goes_on_from_an_http_replay_that_ran_out_of_time()
    {
        await using (var served = await ServedApp.StartAsync(Db.ConnectionString(), OneSecond))
        {
            using var first = await PostAsync(served, """{"batchSize":100}""");
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        }

        var left = await Db.UsersWithoutProfileAsync();
        var (exitCode, output, error) = await CliRunner.RunAsync("replay", "--batch-size", "100", "--connection", Db.ConnectionString());

        Assert.True(exitCode == 0, error);
        Assert.Contains($"Missing                   {left,12:N0}   created {left:N0}", output, StringComparison.Ordinal);
        Assert.Contains("Went on from where an earlier replay of everyone stopped", output, StringComparison.Ordinal);
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        var (statusExit, status, _) = await CliRunner.RunAsync("status", "--exit-code", "--connection", Db.ConnectionString());
        Assert.Equal(0, statusExit);
        Assert.DoesNotContain("Unfinished", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unfinished_dry_run_writes_nothing_and_a_real_replay_does_not_go_on_from_it()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString(), OneSecond);

        using var dryRun = await PostAsync(served, """{"batchSize":100,"dryRun":true}""");
        Assert.Equal(HttpStatusCode.Accepted, dryRun.StatusCode);
        Assert.Equal(Users, await Db.UsersWithoutProfileAsync());
        Assert.Equal("true", await Db.ScalarAsync<string>("select string_agg(dry_run::text, ',') from profile_sync.unfinished_replays"));

        var (exitCode, output, error) = await CliRunner.RunAsync("replay", "--json", "--connection", Db.ConnectionString());

        Assert.True(exitCode == 0, error);
        using var report = JsonDocument.Parse(output);
        Assert.Equal((long)Users, report.RootElement.GetProperty("created").GetInt64());
        Assert.False(report.RootElement.GetProperty("resumed").GetBoolean());
        Assert.Equal(0L, await Db.UsersWithoutProfileAsync());
    }

    private static Task<HttpResponseMessage> PostAsync(ServedApp served, string body) =>
        served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
}
