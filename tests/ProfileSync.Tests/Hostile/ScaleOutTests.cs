using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Hostile;

/// <summary>
/// Scale-out as Azure Functions does it: instances with a pool each, on one database. Three <c>profilesync serve</c>
/// processes through one pgbouncer in transaction mode (as Supavisor on 6543); 12 senders spread 9,000 deliveries for
/// 3,000 users (inserts, updates, soft and hard deletes; 30% duplicates, half of those sent at once to another
/// instance) over them, while two instances are asked at the same moment to replay everyone, round after round, a SQL
/// reconcile runs again and again, and auth.users changes, reported by a delivery or not. Every answer is the
/// contract's, every 200 left its user's profile right, and once all of it stopped and a last round of replays and a
/// reconcile ran, the profiles are exactly what auth.users implies.
/// </summary>
public sealed class ScaleOutTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private const int Users = 3_000;
    private const int Deliveries = 9_000;
    private const int Instances = 3;
    private const int Senders = 12;
    private const int Seed = 20261232;

    // Paced by the deliveries answered, not by time: the same run on a fast machine or a slow one. Replays and reconciles
    // start within the first four fifths of the deliveries; in the rest the event path alone converges the changes that
    // deliveries report, so that a 200 which left a profile wrong shows.
    private const int ReplayRounds = 12;
    private const int Reconciles = 12;
    private const int PassesUntil = Deliveries * 4 / 5;
    private const int DeliveriesPerDrift = 40;

    private readonly ConcurrentDictionary<string, int> _answers = new();
    private readonly ConcurrentDictionary<Guid, bool> _applied = new();
    private readonly ConcurrentQueue<string> _replayRounds = new();
    private long _replayed, _reconciled, _reconcileFailed;
    private int _reconciles, _delivered;

    private sealed record SignedUp(Guid Id, string? Email, string? Phone, bool Pending);

    private sealed record Delivery(Guid UserId, string Body, int Instance);

    /// <summary>
    /// The fallback trigger off, as in FaultRunTests: the three instances' deliveries, the replays and the reconciles then
    /// race to create every profile. On, each signup's own transaction would have made it, and most deliveries would
    /// only find it unchanged. Rules on a proven domain and a trusted provider, so that proofs made meanwhile are drift.
    /// </summary>
    protected override async Task PrepareAsync()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        await Db.ExecuteAsync(
            """
            update profile_sync.settings set email_verifying_providers = '{google}';
            insert into profile_sync.attribute_rules (position, email_domain, attributes) values (1, 'scale.example', '{"department":"Scale"}');
            insert into profile_sync.attribute_rules (position, provider, attributes) values (2, 'google', '{"access_level":"sso"}');
            """);
    }

    [Fact]
    public async Task Three_instances_with_duplicate_deliveries_two_replays_and_a_sql_reconcile_answer_only_the_contract_and_end_exact()
    {
        var clock = Stopwatch.StartNew();
        var random = new Random(Seed);
        var users = await SignUpAsync();
        var deliveries = await ChangeAndScheduleAsync(users, random);
        var seeding = clock.Elapsed;

        await using var pooler = await PgBouncer.StartAsync(Cluster.Port);
        // A pool each, sized as docs/configuration.md advises: instances × Maximum Pool Size within the pooler's clients.
        var connectionString = pooler.ConnectionString(Db.Name) + ";Maximum Pool Size=10";
        await using var first = new LoggedServeProcess(connectionString);
        await using var second = new LoggedServeProcess(connectionString);
        await using var third = new LoggedServeProcess(connectionString);
        LoggedServeProcess[] instances = [first, second, third];
        await Task.WhenAll(instances.Select(instance => instance.StartAsync()));
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        // Reconciles on a connection of their own, straight to the database, as pg_cron runs them.
        await using var reconciler = await Db.As().OpenConnectionAsync();
        var started = clock.Elapsed;

        var sending = Parallel.ForEachAsync(deliveries, new ParallelOptions { MaxDegreeOfParallelism = Senders }, async (delivery, token) =>
        {
            var answer = await DeliverAsync(client, instances[delivery.Instance].BaseAddress, delivery.Body, token);
            Count("event " + answer);
            if (answer.StartsWith("200 ", StringComparison.Ordinal))
            {
                _applied[delivery.UserId] = true;
            }

            Interlocked.Increment(ref _delivered);
        });
        var replays = Task.Run(async () =>
        {
            for (var round = 0; round < ReplayRounds; round++)
            {
                await AfterDeliveriesAsync((round + 1) * PassesUntil / ReplayRounds);
                await ReplayRoundAsync(client, instances[round % Instances], instances[(round + 1) % Instances]);
            }
        });
        var reconciles = Task.Run(async () =>
        {
            for (var k = 0; k < Reconciles; k++)
            {
                await AfterDeliveriesAsync((2 * k + 1) * PassesUntil / (2 * Reconciles));
                await ReconcileAsync(reconciler);
            }
        });
        var drift = DriftAsync(users, client, instances);
        await sending;
        var sent = clock.Elapsed - started;
        await Task.WhenAll(replays, reconciles, drift);
        var (driftSteps, unreported, reported) = await drift;
        var running = clock.Elapsed - started;

        // A 200 leaves the profile right, whatever raced it: for every user no unreported change reached, the last 200
        // (for a change reported while the senders ran, its own) still holds.
        var derived = (await Truth.DerivedAsync(Db)).ToDictionary(p => p.UserId);
        var before = (await Truth.ProfilesAsync(Db)).ToDictionary(p => p.UserId);
        var wrongAfter200 = _applied.Keys.Union(reported.Keys)
            .Where(id => !unreported.Contains(id) && (reported.TryGetValue(id, out var answered) ? answered : _applied.ContainsKey(id)))
            .Where(id => derived.GetValueOrDefault(id) != before.GetValueOrDefault(id)).ToList();

        // The last round, after the last change: two replays at once on two instances, and a reconcile.
        await Task.WhenAll(ReplayRoundAsync(client, first, third), ReconcileAsync(reconciler));
        var expected = await Truth.DerivedAsync(Db);
        var after = await Truth.ProfilesAsync(Db);

        var summary = $"scale-out: {Instances} instances, {deliveries.Count} deliveries ({deliveries.DistinctBy(d => d.Body).Count()} distinct) "
                      + $"for {Users} users from {Senders} senders in {sent.TotalSeconds:0.0} s, all done in {running.TotalSeconds:0.0} s (seeding {seeding.TotalSeconds:0.0} s); "
                      + string.Join(", ", _answers.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key} ×{a.Value}"))
                      + $"; replay rounds, the last one's included, {string.Join(", ", _replayRounds.CountBy(r => r).OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key} ×{r.Value}"))}"
                      + $" (their profiles written: {_replayed}); SQL reconciles {_reconciles} (profiles written {_reconciled}, set aside {_reconcileFailed}); "
                      + $"auth.users changes while sending: {driftSteps} reported, to {reported.Count} users, and {driftSteps} not, to {unreported.Count}; "
                      + $"wrong after a 200: {wrongAfter200.Count}; profiles {after.Count}, auth users {expected.Count}; "
                      + $"serve warnings {instances.Sum(i => i.Lines.Count(l => l.Level == LogLevel.Warning))}, "
                      + $"errors {instances.Sum(i => i.Lines.Count(l => l.Level >= LogLevel.Error))}";
        RunReport.Write(summary);

        // 200 with an outcome (never a user set aside), 409 for a replay while the other ran, 503 (counted above). A replay
        // of everyone may also answer 202 when its time for one request runs out (docs: HTTP API).
        string[] replayAnswers = ["replay 200", "replay 202", "replay 409", "replay 503"];
        string[] eventAnswers = ["event 200 created", "event 200 updated", "event 200 unchanged", "event 200 deleted", "event 200 ignored", "event 503"];
        Assert.True(_answers.Keys.All(key => replayAnswers.Contains(key) || eventAnswers.Contains(key)), summary);
        Assert.DoesNotContain("409+409", _replayRounds); // one of the two always ran: nothing else holds the lock
        // A replay of everyone takes far longer than the two requests take to reach their instances: two sent at once
        // overlap in nearly every round (in every round of every run so far), and one lock for all instances answers the
        // second 409. Both 200 in every round would mean each instance locks for itself.
        Assert.Contains("200+409", _replayRounds);
        Assert.Equal(0L, _reconcileFailed);
        Assert.Empty(wrongAfter200);
        Assert.Equal(expected, after);
        foreach (var instance in instances)
        {
            LogAudit.Check(instance.Lines, ["scale-", "Scale Name", "Scale Drift", "+1555"]);
        }
    }

    /// <summary>3,000 users, signed up as Supabase Auth's flows write them, eight at a time.</summary>
    private async Task<List<SignedUp>> SignUpAsync()
    {
        var users = new SignedUp[Users];
        await Parallel.ForEachAsync(Enumerable.Range(0, Users), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (n, _) =>
        {
            var (domain, phone) = (n % 8 == 4 ? "example.com" : "scale.example", $"+1555{n:D7}");
            var email = $"scale-{n}@{domain}";
            users[n] = (n % 8) switch
            {
                2 => new SignedUp(await Db.SignUpWithEmailAsync(email, SupabaseAuthFlows.Confirmation.Pending), email, null, Pending: true),
                3 => new SignedUp(await Db.SignUpWithEmailAsync(email, SupabaseAuthFlows.Confirmation.Autoconfirm), email, null, false),
                5 => new SignedUp(await Db.SignUpWithPhoneAsync(phone), null, phone, false),
                6 or 7 => new SignedUp(await Db.SignUpWithOAuthAsync("google", email, providerVerified: n % 8 == 6, autoconfirm: false), email, null, false),
                _ => new SignedUp(await Db.SignUpWithEmailAsync(email, SupabaseAuthFlows.Confirmation.Verified), email, null, false),
            };
        });
        return [.. users];
    }

    /// <summary>
    /// Later changes, made before sending as Auth would have made them (names, bans, soft and hard deletes), and the
    /// deliveries that report them and the signups: each at least once, 30% twice, shuffled, each to a random instance.
    /// </summary>
    private async Task<List<Delivery>> ChangeAndScheduleAsync(List<SignedUp> users, Random random)
    {
        var shuffled = users.Select(u => u.Id).OrderBy(_ => random.Next()).ToList();
        var (renamed, softDeleted, deleted) = (shuffled[..1_000], shuffled[1_000..1_100], shuffled[1_100..1_200]);
        await Db.ExecuteAsync(
            """
            update auth.users u
            set raw_user_meta_data = u.raw_user_meta_data || jsonb_build_object('full_name', 'Scale Name ' || substr(u.id::text, 1, 8)),
                banned_until = case when get_byte(uuid_send(u.id), 15) % 7 = 0 then now() + interval '30 days' end,
                updated_at = now()
            where u.id = any($1)
            """,
            "supabase_auth_admin",
            renamed.ToArray());
        await Db.ExecuteAsync("update auth.users set deleted_at = now(), updated_at = now() where id = any($1)", "supabase_auth_admin", softDeleted.ToArray());
        await Db.ExecuteAsync("delete from auth.users where id = any($1)", "supabase_auth_admin", deleted.ToArray());

        var unique = users.Select(u => new Delivery(u.Id, SupabaseEvents.Insert(u.Id, u.Email, u.Phone), 0))
            .Concat(softDeleted.Select(id => new Delivery(id, SupabaseEvents.Update(id, deletedAt: DateTime.UtcNow), 0)))
            .Concat(deleted.Select(id => new Delivery(id, SupabaseEvents.Delete(id), 0)))
            .ToList();
        unique.AddRange(Enumerable.Range(0, (int)(Deliveries * 0.7) - unique.Count).Select(_ => renamed[random.Next(renamed.Count)]).Select(id =>
            new Delivery(id, SupabaseEvents.Update(id, metadata: new { full_name = "Scale Name" }), 0)));
        unique = [.. unique.OrderBy(_ => random.Next())];

        // Half the duplicates right behind their first copy, to another instance: two senders deliver it at once, as a
        // retry after a timeout can. The other half anywhere later or earlier.
        var duplicates = Deliveries - unique.Count;
        var atOnce = Enumerable.Range(0, unique.Count).OrderBy(_ => random.Next()).Take(duplicates / 2).ToHashSet();
        var deliveries = new List<Delivery>(Deliveries);
        for (var i = 0; i < unique.Count; i++)
        {
            var instance = random.Next(Instances);
            deliveries.Add(unique[i] with { Instance = instance });
            if (atOnce.Contains(i))
            {
                deliveries.Add(unique[i] with { Instance = (instance + 1 + random.Next(Instances - 1)) % Instances });
            }
        }

        while (deliveries.Count < Deliveries)
        {
            deliveries.Insert(random.Next(deliveries.Count + 1), unique[random.Next(unique.Count)] with { Instance = random.Next(Instances) });
        }

        return deliveries;
    }

    /// <summary>
    /// While the senders run, every 40 deliveries two changes to auth.users. One that a delivery reports: a new name, sent
    /// to one instance, or (every other time) to two at once. One that no delivery reports, one kind after another:
    /// signups, proofs of a pending address (a domain rule then matches), names, bans and lifted bans, confirmed
    /// changes of address, deletions; what the replays and reconciles must find. Returns how many of each; the users
    /// of unreported changes; and the users of reported ones, each with whether its last report was answered 200.
    /// </summary>
    private async Task<(int Steps, HashSet<Guid> Unreported, Dictionary<Guid, bool> Reported)> DriftAsync(
        List<SignedUp> users, HttpClient client, LoggedServeProcess[] instances)
    {
        var random = new Random(Seed + 1);
        var live = await Db.ScalarAsync<Guid[]>("select array_agg(id order by id) from auth.users", "supabase_admin");
        var alive = live.ToList();
        var pending = new Queue<Guid>(users.Where(u => u.Pending && live.Contains(u.Id)).Select(u => u.Id));
        var (unreported, reported) = (new HashSet<Guid>(), new Dictionary<Guid, bool>());
        var step = 0;
        for (; step < Deliveries / DeliveriesPerDrift - 1; step++)
        {
            await AfterDeliveriesAsync(step * DeliveriesPerDrift);
            var id = alive[random.Next(alive.Count)];
            var name = $"Scale Name {step}";
            await Db.UpdateUserAsync(id, "raw_user_meta_data = raw_user_meta_data || jsonb_build_object('full_name', $2::text)", name);
            var body = SupabaseEvents.Update(id, metadata: new { full_name = name });
            var instance = random.Next(Instances);
            var answers = await Task.WhenAll(new[] { instance, (instance + 1) % Instances }.Take(step % 2 + 1)
                .Select(i => DeliverAsync(client, instances[i].BaseAddress, body, CancellationToken.None)));
            foreach (var answer in answers)
            {
                Count("event " + answer);
            }

            reported[id] = answers.Any(answer => answer.StartsWith("200 ", StringComparison.Ordinal));

            id = alive[random.Next(alive.Count)];
            switch (step % 6)
            {
                case 0:
                    id = await Db.SignUpWithEmailAsync($"scale-drift-{step}@scale.example", SupabaseAuthFlows.Confirmation.Pending);
                    alive.Add(id);
                    pending.Enqueue(id);
                    break;
                case 1 when pending.TryDequeue(out var unproven):
                    id = unproven;
                    await Db.VerifyEmailAsync(id);
                    break;
                case 2:
                    await Db.UpdateUserAsync(id, "raw_user_meta_data = raw_user_meta_data || jsonb_build_object('display_name', $2::text)", $"Scale Drift {step}");
                    break;
                case 3:
                    await Db.UpdateUserAsync(id, "banned_until = case when banned_until is null then now() + interval '30 days' end");
                    break;
                case 4:
                    await Db.ChangeEmailAsync(id, $"scale-drift-{step}@scale.example", SupabaseAuthFlows.EmailChange.OneLink);
                    break;
                case 5:
                    await Db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", id);
                    alive.Remove(id);
                    pending = new Queue<Guid>(pending.Where(p => p != id));
                    break;
            }

            unreported.Add(id);
        }

        return (step, unreported, reported);
    }

    /// <summary>Two replays of everyone started at the same moment on two instances; counts their answers.</summary>
    private async Task ReplayRoundAsync(HttpClient client, LoggedServeProcess one, LoggedServeProcess other)
    {
        var answers = await Task.WhenAll(ReplayAsync(client, one.BaseAddress), ReplayAsync(client, other.BaseAddress));
        foreach (var (status, written) in answers)
        {
            Count("replay " + status);
            Interlocked.Add(ref _replayed, written);
        }

        _replayRounds.Enqueue(string.Join('+', answers.Select(a => a.Status).Order(StringComparer.Ordinal)));
    }

    /// <summary>The status (or the exception, no answer at all) and, for a 200, the profiles it created, refreshed and removed.</summary>
    private static async Task<(string Status, long Written)> ReplayAsync(HttpClient client, Uri instance)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(instance, "/api/profiles/replay")) { Content = JsonContent.Create(new { }) };
        request.Headers.Add("x-functions-key", SupabaseEvents.AdminKey);
        try
        {
            using var response = await client.SendAsync(request);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), 0);
            }

            var report = await response.Content.ReadFromJsonAsync<JsonElement>();
            return ("200", report.GetProperty("created").GetInt64() + report.GetProperty("refreshed").GetInt64() + report.GetProperty("removed").GetInt64());
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (e.GetType().Name, 0);
        }
    }

    /// <summary>One signed delivery: <c>200 outcome</c>, another status, or the exception when there was no answer at all.</summary>
    private static async Task<string> DeliverAsync(HttpClient client, Uri instance, string body, CancellationToken token)
    {
        try
        {
            using var request = StandardWebhooks.SignedRequest(new Uri(instance, "/api/auth-events"), body);
            using var response = await client.SendAsync(request, token);
            return response.StatusCode == HttpStatusCode.OK
                ? "200 " + (await response.Content.ReadFromJsonAsync<JsonElement>(token)).GetProperty("outcome").GetString()
                : ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return e.GetType().Name;
        }
    }

    /// <summary><c>profile_sync.reconcile()</c> as an operator's SQL (or pg_cron) runs it; an error is counted as an answer.</summary>
    private async Task ReconcileAsync(NpgsqlConnection connection)
    {
        try
        {
            await using var command = new NpgsqlCommand("select created + refreshed + removed, failed from profile_sync.reconcile(dry_run => false)", connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            Interlocked.Add(ref _reconciled, reader.GetInt64(0));
            Interlocked.Add(ref _reconcileFailed, reader.GetInt64(1));
            Interlocked.Increment(ref _reconciles);
        }
        catch (PostgresException e)
        {
            Count("reconcile " + e.SqlState);
        }
    }

    private async Task AfterDeliveriesAsync(int answered)
    {
        while (Volatile.Read(ref _delivered) < answered)
        {
            await Task.Delay(10);
        }
    }

    private void Count(string answer) => _answers.AddOrUpdate(answer, 1, (_, n) => n + 1);
}
