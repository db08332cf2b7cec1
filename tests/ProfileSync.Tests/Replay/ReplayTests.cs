using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProfileFunctions;
using ProfileSync.Cli;
using ProfileSync.Replay;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Replay;

public sealed class ReplayTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private List<Guid> _users = null!;

    protected override async Task PrepareAsync()
    {
        _users = await Db.SeedStartingCaseAsync();
    }

    [Fact]
    public async Task Cli_replay_heals_the_starting_case_and_a_second_run_creates_nothing()
    {
        var before = await Db.ProfilesJsonAsync(_users[0], _users[1]);

        var first = await CliRunner.RunAsync("replay", "--json", "--connection", Db.ConnectionString());
        var second = await CliRunner.RunAsync("replay", "--json", "--connection", Db.ConnectionString());

        Assert.Equal(0, first.ExitCode);
        Assert.Equal((5L, 3L, 3L), Counts(first.Output));
        Assert.Equal((5L, 0L, 0L), Counts(second.Output));
        await AssertHealedAsync(before);
    }

    [Fact]
    public async Task Cli_replay_prints_a_line_per_batch_and_a_summary_when_not_on_a_terminal()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        await Db.SignUpManyAsync(200);
        var (exitCode, output, _) = await CliRunner.RunAsync("replay", "--batch-size", "100", "--connection", Db.ConnectionString());

        Assert.Equal(0, exitCode);
        // Each line: the share done (by the last id's place among random UUIDs), then the counts; time left once known.
        var lines = output.Split('\n').Where(line => line.Contains("batch ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, lines.Count);
        // No rate before a second has passed: "20 users/s" for 5 users in 0.25 s would say nothing.
        Assert.Matches(@"^\s*\d{1,3}%  batch 1  scanned 100  created \d+ refreshed 0 removed 0(  [\d,]+ users/s)?  about \d:\d\d:\d\d left", lines[0]);
        Assert.StartsWith("100%  batch 3  scanned 205  created 203 refreshed 0 removed 0", lines[2], StringComparison.Ordinal);
        Assert.All(lines, line => Assert.True(line.TrimEnd().Length <= 100, line));
        Assert.Matches(@"Scanned\s+205   in batches of 100", output);
        Assert.Matches(@"Missing\s+203   created 203", output);
    }

    [Fact]
    public async Task Cli_dry_run_says_what_a_run_would_do_and_no_count_of_what_it_did()
    {
        var (exitCode, output, _) = await CliRunner.RunAsync("replay", "--dry-run", "--batch-size", "100", "--connection", Db.ConnectionString());

        Assert.Equal(0, exitCode);
        Assert.Matches(@"Scanned\s+5   in batches of 100", output);
        Assert.Matches(@"Missing\s+3   would be created", output);
        Assert.Matches(@"Stale\s+\d+   would be refreshed", output);
        Assert.DoesNotContain("created 0", output, StringComparison.Ordinal);
        Assert.Contains("Dry run: nothing was written.", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http_replay_through_profilesync_serve_heals_the_starting_case()
    {
        var before = await Db.ProfilesJsonAsync(_users[0], _users[1]);
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());

        using var first = await served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), Json("{}"));
        using var second = await served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), Json("{}"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var answer = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((5L, 3L, 3L), (answer.GetProperty("scanned").GetInt64(), answer.GetProperty("missing").GetInt64(), answer.GetProperty("created").GetInt64()));
        Assert.False(answer.GetProperty("dryRun").GetBoolean());
        Assert.True(answer.TryGetProperty("elapsedMs", out _));
        Assert.Equal(0, (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("created").GetInt64());
        await AssertHealedAsync(before);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \r\n")]
    public async Task An_empty_replay_body_is_a_400_that_says_to_send_braces_and_changes_nothing(string body)
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());

        using var response = await served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("send {} to replay every user", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(3L, await Db.UsersWithoutProfileAsync());
    }

    [Theory]
    [InlineData(null, SupabaseEvents.AdminKey)]
    [InlineData("a-wrong-key", SupabaseEvents.AdminKey)]
    [InlineData(SupabaseEvents.AdminKey, "")]
    public async Task Serve_refuses_a_replay_without_its_admin_key_and_changes_nothing(string? presented, string configured)
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString(), new Dictionary<string, string?> { ["ProfileSync:AdminKey"] = configured });
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/profiles/replay", UriKind.Relative)) { Content = Json("{}") };
        served.Client.DefaultRequestHeaders.Remove("x-functions-key");
        if (presented is not null)
        {
            request.Headers.Add("x-functions-key", presented);
        }

        using var response = await served.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(3L, await Db.UsersWithoutProfileAsync());
    }

    [Fact]
    public async Task Http_replay_function_answers_as_the_host_would()
    {
        await using var services = Services();
        var function = ActivatorUtilities.CreateInstance<ReplayFunctions>(services);
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes($$"""{"userIds":["{{_users[3]}}"],"dryRun":true}"""));
        context.Response.Body = new MemoryStream();

        await function.ReplayAsync(context.Request);

        context.Response.Body.Position = 0;
        Assert.Equal(200, context.Response.StatusCode);
        using var answer = await JsonDocument.ParseAsync(context.Response.Body);
        Assert.Equal((1L, 1L, 0L), Counts(answer.RootElement.GetRawText()));
        Assert.True(answer.RootElement.GetProperty("dryRun").GetBoolean());
    }

    [Fact]
    public async Task Timer_heals_the_starting_case()
    {
        var before = await Db.ProfilesJsonAsync(_users[0], _users[1]);

        await ReconcileTimer.RunAsync(Db.ConnectionString());

        await AssertHealedAsync(before);
    }

    [Fact]
    public async Task Dry_run_counts_right_and_writes_nothing()
    {
        var report = await Replayer().RunAsync(new ReplayRequest(new ReplayScope(), DryRun: true));

        Assert.Equal(new ReplayReport(new ReplayCounts(5, 3, 0, 0, 0, 0, 0, 0, []), true, report.ElapsedMs), report);
        Assert.Equal(3L, await Db.UsersWithoutProfileAsync());
    }

    [Fact]
    public async Task User_id_scope_touches_only_those_users()
    {
        var report = await Replayer().RunAsync(new ReplayRequest(new ReplayScope(UserIds: [_users[2], _users[0]])));

        Assert.Equal((2L, 1L, 1L), (report.Scanned, report.Missing, report.Created));
        Assert.Equal(1L, await Db.ProfileCountAsync(_users[2]));
        Assert.Equal(0L, await Db.ProfileCountAsync(_users[3]));
        Assert.Equal(0L, await Db.ProfileCountAsync(_users[4]));
    }

    [Fact]
    public async Task Created_window_touches_only_users_created_in_it()
    {
        await Db.ExecuteAsync("update auth.users set created_at = '2025-01-01' where id = $1", "supabase_auth_admin", _users[3]);
        await Db.ExecuteAsync("update auth.users set created_at = '2025-06-01' where id = $1", "supabase_auth_admin", _users[4]);

        var report = await Replayer().RunAsync(new ReplayRequest(new ReplayScope(
            CreatedAfter: new DateTimeOffset(2024, 12, 1, 0, 0, 0, TimeSpan.Zero),
            CreatedBefore: new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero))));

        Assert.Equal((1L, 1L, 1L), (report.Scanned, report.Missing, report.Created));
        Assert.Equal(1L, await Db.ProfileCountAsync(_users[3]));
        Assert.Equal(0L, await Db.ProfileCountAsync(_users[4]));
        Assert.Equal(0L, await Db.ProfileCountAsync(_users[2]));
    }

    [Fact]
    public async Task Second_replay_while_one_runs_says_so_and_does_nothing()
    {
        using var firstBatchDone = new SemaphoreSlim(0);
        using var mayContinue = new SemaphoreSlim(0);
        var blocking = new BlockingProgress(firstBatchDone, mayContinue);
        var running = Task.Run(() => Replayer().RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: 1), blocking));
        await firstBatchDone.WaitAsync(TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<ReplayAlreadyRunningException>(() => Replayer().RunAsync(new ReplayRequest(new ReplayScope())));
        var cli = await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString());
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        using var http = await served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), Json("{}"));

        mayContinue.Release(100);
        var report = await running;
        Assert.Equal(ProfileSyncCli.Busy, cli.ExitCode);
        Assert.Contains("another replay is running", cli.Error, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, http.StatusCode);
        Assert.Equal(3L, report.Created);
        Assert.Equal(0L, await Db.UsersWithoutProfileAsync());
    }

    [Theory]
    [InlineData("--batch-size", "99", "--batch-size 99 is out of range: it must be from 100 to")]
    [InlineData("--created-after", "2025-02-01", "--created-after must be earlier")]
    public async Task Cli_replay_refuses_bad_options_with_a_clear_message(string option, string value, string message)
    {
        var (exitCode, _, error) = await CliRunner.RunAsync(
            "replay", option, value, "--created-before", "2025-01-01", "--connection", Db.ConnectionString());

        Assert.Equal(ProfileSyncCli.UsageError, exitCode);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.Equal(3L, await Db.UsersWithoutProfileAsync());
    }

    [Fact]
    public async Task Cancelled_replay_run_again_completes_without_duplicates()
    {
        using var cancel = new CancellationTokenSource();
        var stopAfterFirst = new SynchronousProgress<ReplayProgress>(p =>
        {
            if (p.Batches == 1)
            {
                cancel.Cancel();
            }
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Replayer().RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: 2), stopAfterFirst, cancel.Token));
        var partial = 3 - await Db.UsersWithoutProfileAsync();
        var rerun = await Replayer().RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: 2));

        Assert.InRange(partial, 0, 2);
        Assert.Equal(3 - partial, rerun.Created);
        await AssertHealedAsync(null);
    }

    [Fact]
    public async Task Replay_racing_webhooks_and_the_trigger_for_the_same_users_ends_with_one_profile_each()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        var newcomers = new List<Guid>();
        for (var i = 0; i < 60; i++)
        {
            newcomers.Add(await Db.SignUpAsync(email: $"race{i}@example.com"));
        }

        await Db.SetFallbackTriggerAsync(enabled: true);
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());

        var work = new List<Task>
        {
            Replayer().RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: 7)),
        };
        work.AddRange(newcomers.Select(async id =>
        {
            // Each replay batch holds every lock bucket: on a loaded machine a delivery may wait out its deadline and
            // get a 503, which says "send it again", as a sender that retries would.
            var (status, _) = await served.SendAsync(SupabaseEvents.Insert(id, "x@example.com"));
            for (var retry = 0; status == HttpStatusCode.ServiceUnavailable && retry < 3; retry++)
            {
                (status, _) = await served.SendAsync(SupabaseEvents.Insert(id, "x@example.com"));
            }

            Assert.Equal(HttpStatusCode.OK, status);
        }));
        work.AddRange(Enumerable.Range(0, 20).Select(i => Db.SignUpAsync(email: $"late{i}@example.com")));
        await Task.WhenAll(work);
        await Replayer().RunAsync(new ReplayRequest(new ReplayScope()));

        Assert.Equal(0L, await Db.UsersWithoutProfileAsync());
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from (select user_id from public.user_profiles group by 1 having count(*) > 1) d"));
        Assert.Equal(await Db.ScalarAsync<long>("select count(*) from auth.users"), await Db.ScalarAsync<long>("select count(*) from public.user_profiles"));
    }

    [Theory]
    [InlineData("[]", "must be a JSON object")]
    [InlineData("""{"userId":["x"]}""", "unknown field 'userId'")]
    [InlineData("""{"userIds":[]}""", "'userIds' must name at least one user")]
    [InlineData("""{"userIds":"6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f"}""", "'userIds' must be an array of UUID strings")]
    [InlineData("""{"userIds":["nope"]}""", "'userIds' 'nope' is not a user id")]
    [InlineData("""{"userIds":["6f1c2b7e3d4a4c5b9e8f0a1b2c3d4e5f"]}""", "is not a user id")]
    [InlineData("""{"userIds":["{6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f}"]}""", "is not a user id")]
    [InlineData("""{"userIds":[" 6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f"]}""", "is not a user id")]
    [InlineData("""{"userIds":["(6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f)"]}""", "is not a user id")]
    [InlineData("""{"userIds":["\ud800"]}""", "not valid Unicode")]
    [InlineData("""{"createdAfter":"yesterday"}""", "'createdAfter' 'yesterday' is not a time")]
    [InlineData("""{"createdAfter":"11/01/2026"}""", "is not a time")]
    [InlineData("""{"createdAfter":"2025-02-01T00:00:00Z","createdBefore":"2025-01-01T00:00:00Z"}""", "must be earlier")]
    [InlineData("""{"dryRun":"yes"}""", "'dryRun' must be true or false")]
    [InlineData("""{"batchSize":1}""", "'batchSize' 1 is out of range: it must be from 100 to")]
    [InlineData("""{"batchSize":"500"}""", "'batchSize' must be a whole number")]
    public async Task Bad_replay_body_gets_400_with_the_reason_and_changes_nothing(string body, string reason)
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());

        using var response = await served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(3L, await Db.UsersWithoutProfileAsync());
    }

    private ProfileReplayer Replayer() => Services().GetRequiredService<ProfileReplayer>();

    private ServiceProvider Services() => TestServices.Build(Db.ConnectionString());

    private async Task AssertHealedAsync(string? oldProfilesBefore)
    {
        Assert.Equal(0L, await Db.UsersWithoutProfileAsync());
        foreach (var user in _users)
        {
            Assert.Equal(1L, await Db.ProfileCountAsync(user));
        }

        if (oldProfilesBefore is not null)
        {
            Assert.Equal(oldProfilesBefore, await Db.ProfilesJsonAsync(_users[0], _users[1]));
        }

        Assert.All(_users[2..], user => Assert.Equal("replay", Db.ProfileAsync(user).Result!.CreatedVia));
    }

    private static (long Scanned, long Missing, long Created) Counts(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return (root.GetProperty("scanned").GetInt64(), root.GetProperty("missing").GetInt64(), root.GetProperty("created").GetInt64());
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>Holds the replay (and its lock) after its first batch until released.</summary>
    private sealed class BlockingProgress(SemaphoreSlim firstBatchDone, SemaphoreSlim mayContinue) : IProgress<ReplayProgress>
    {
        public void Report(ReplayProgress value)
        {
            if (value.Batches == 1)
            {
                firstBatchDone.Release();
                mayContinue.Wait(TimeSpan.FromSeconds(30));
            }
        }
    }
}
