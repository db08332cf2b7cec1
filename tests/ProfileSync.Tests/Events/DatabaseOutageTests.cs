using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Events;

/// <summary>PostgreSQL stopped for 2 s during a request: success once it returns (within the deadline) or 503; never a half write.</summary>
public sealed class DatabaseOutageTests : IAsyncLifetime
{
    private readonly PostgresCluster _cluster = new(); // its own: stopping it must not disturb other tests
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync()
    {
        await _cluster.InitializeAsync();
        _db = await _cluster.CreateDatabaseAsync();
        await _db.SetFallbackTriggerAsync(enabled: false);
    }

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Event_during_a_two_second_outage_is_applied_when_the_database_returns_or_answered_503()
    {
        await using var served = await ServedApp.StartAsync(_db.ConnectionString());
        var warmUp = await _db.SignUpAsync(email: "warm@example.com");
        await served.SendAsync(SupabaseEvents.Insert(warmUp, "warm@example.com")); // pooled connections that will break
        var userId = await _db.SignUpAsync(email: "outage@example.com", userMetadata: """{"name":"Outage"}""");
        var body = SupabaseEvents.Insert(userId, "outage@example.com", metadata: new { name = "Outage" });

        await _cluster.StopServerAsync();
        var delivery = served.SendAsync(body);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await _cluster.StartServerAsync();
        var (status, outcome) = await delivery;
        _db.ClearPools();

        if (status == HttpStatusCode.OK)
        {
            Assert.Equal("created", outcome);
            Assert.Equal("Outage", (await _db.ProfileAsync(userId))!.DisplayName);
        }
        else
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal(0L, await _db.ProfileCountAsync(userId));
            Assert.Equal((HttpStatusCode.OK, "created"), await served.SendAsync(body)); // Supabase Auth's retry
        }

        Assert.Equal(1L, await _db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Replay_cut_off_by_a_restart_between_batches_completes_when_run_again()
    {
        var users = new List<Guid>();
        for (var i = 0; i < 9; i++)
        {
            users.Add(await _db.SignUpAsync(email: $"r{i}@example.com"));
        }

        using var services = TestServices.Build(_db.ConnectionString());
        var replayer = services.GetRequiredService<ProfileSync.Replay.ProfileReplayer>();
        var restartAfterFirst = new RestartAfterFirstBatch(_cluster);

        // The lock's connection dies with the restart: the replay stops and says so instead of going on unguarded.
        await Assert.ThrowsAsync<ProfileSync.Replay.ReplayLockLostException>(() => replayer.RunAsync(new(new(), BatchSize: 3), restartAfterFirst));
        _db.ClearPools();
        var partial = await _db.ScalarAsync<long>("select count(*) from public.user_profiles");
        var rerun = await replayer.RunAsync(new(new(), BatchSize: 3));

        Assert.Equal(3L, partial);
        Assert.Equal(6L, rerun.Created);
        Assert.Equal(9L, await _db.ScalarAsync<long>("select count(*) from public.user_profiles"));
        Assert.All(users, user => Assert.Equal(1L, _db.ProfileCountAsync(user).Result));
    }

    private sealed class RestartAfterFirstBatch(PostgresCluster cluster) : IProgress<ProfileSync.Replay.ReplayProgress>
    {
        public void Report(ProfileSync.Replay.ReplayProgress value)
        {
            if (value.Batches == 1)
            {
                cluster.StopServerAsync().GetAwaiter().GetResult();
                cluster.StartServerAsync().GetAwaiter().GetResult();
            }
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Event_while_the_database_is_down_or_hangs_is_answered_503_with_retry_after_within_the_deadline(bool throughPooler, bool hangs)
    {
        var deadline = TimeSpan.FromSeconds(2);
        var logs = new CapturedLogs();
        await using var served = await ServeWithPooledConnectionsAsync(throughPooler, logs,
            new Dictionary<string, string?> { ["ProfileSync:Resilience:Deadline"] = deadline.ToString() });
        var userId = await _db.SignUpAsync(email: "down@example.com");

        await WhileUnavailableAsync(hangs, async () =>
        {
            var elapsed = Stopwatch.StartNew();
            using var request = StandardWebhooks.SignedRequest(served.AuthEvents, SupabaseEvents.Insert(userId, "down@example.com"));
            using var response = await served.Client.SendAsync(request);
            elapsed.Stop();

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter?.Delta);
            Assert.True(elapsed.Elapsed <= deadline + TimeSpan.FromSeconds(0.5), $"503 after {elapsed.ElapsedMilliseconds} ms; the deadline is {deadline.TotalMilliseconds} ms");
        });

        // Whatever the statement did once the server went on, Supabase's retries end in one correct profile.
        var retries = 0;
        await Eventually.HoldsAsync(async () =>
        {
            retries++;
            return (await served.SendAsync(SupabaseEvents.Insert(userId))).Status == HttpStatusCode.OK;
        });
        Assert.Equal(1L, await _db.ProfileCountAsync(userId));
        LogAudit.Check(logs, 2 + retries, ["warm@example.com", "down@example.com"]);
    }

    // Stopped directly and hanging behind pgbouncer: the two ends of the outage theory above, which covers every pair.
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task Signup_hooks_while_the_database_is_down_or_hangs_get_answers_auth_accepts_and_the_reconcile_makes_the_profile(bool throughPooler, bool hangs)
    {
        // Settings as shipped: the answer must come within Auth's budget without any tuning.
        var logs = new CapturedLogs();
        await using var served = await ServeWithPooledConnectionsAsync(throughPooler, logs);
        var userId = await _db.SignUpAsync(email: "deferred@example.com");
        var newcomer = Guid.NewGuid(); // Before User Created: the user is not written yet

        HookAnswer after = null!, before = null!;
        await WhileUnavailableAsync(hangs, async () =>
        {
            after = await SupabaseAuthHookClient.CallAsync(served.Client, served.AuthEvents,
                SupabaseAuthHookClient.Body("after-user-created", userId, "deferred@example.com"), SupabaseEvents.Secret);
            before = await SupabaseAuthHookClient.CallAsync(served.Client, served.AuthEvents,
                SupabaseAuthHookClient.Body("before-user-created", newcomer, "newcomer@example.com"), SupabaseEvents.Secret);
        });

        Assert.Equal((null, "deferred"), (after.Refusal, after.Outcome));
        Assert.Equal((null, "ignored"), (before.Refusal, before.Outcome));
        Assert.Single(logs.Messages, m => m.Contains("deferred: database unavailable", StringComparison.Ordinal));
        await _db.ExecuteAsync("select profile_sync.reconcile()");
        Assert.Equal(1L, await _db.ProfileCountAsync(userId));
        LogAudit.Check(logs, 3, ["warm@example.com", "deferred@example.com", "newcomer@example.com"]);
    }

    /// <summary>Serve, with one delivery made so that the pool holds connections for an outage to break.</summary>
    private async Task<ServedApp> ServeWithPooledConnectionsAsync(bool throughPooler, CapturedLogs logs,
        IReadOnlyDictionary<string, string?>? settings = null)
    {
        var served = await ServedApp.StartAsync(_db, throughPooler, logs, settings);
        var warmUp = await _db.SignUpAsync(email: "warm@example.com");
        Assert.Equal(HttpStatusCode.OK, (await served.SendAsync(SupabaseEvents.Insert(warmUp))).Status);
        return served;
    }

    /// <summary>
    /// Runs <paramref name="during"/> with PostgreSQL stopped (connections refused, or, through pgbouncer in
    /// transaction mode, ended by its FATAL 08P01) or hanging (connections stay open and nothing answers, not even a
    /// cancel request), then brings it back.
    /// </summary>
    private async Task WhileUnavailableAsync(bool hangs, Func<Task> during)
    {
        await (hangs ? _cluster.FreezeServerAsync() : _cluster.StopServerAsync());
        try
        {
            await during();
        }
        finally
        {
            await (hangs ? _cluster.ThawServerAsync() : _cluster.StartServerAsync());
            _db.ClearPools();
        }
    }
}
