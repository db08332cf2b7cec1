using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Hostile;

/// <summary>
/// 20,000 deliveries for 5,000 users (inserts and updates, 30% duplicates, shuffled) from 32 concurrent senders over
/// real HTTP to a real <c>profilesync serve</c> process, through pgbouncer in transaction mode. PostgreSQL is restarted
/// twice and serve killed and started again mid-run; then one reconcile. Every answer is 200 or 503, every 200 left
/// the user's profile right, and after the reconcile every auth user has exactly the profile auth.users implies.
/// </summary>
public sealed class FaultRunTests : IAsyncLifetime
{
    private const int Users = 5_000;
    private const int Deliveries = 20_000;
    private const int Senders = 32;
    private const int Seed = 20261124;

    private readonly PostgresCluster _cluster = new(); // its own: it is restarted
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync()
    {
        await _cluster.InitializeAsync();
        _db = await _cluster.CreateDatabaseAsync();
        await _db.SetFallbackTriggerAsync(enabled: false); // the webhook path does the work
    }

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Deliveries_through_database_restarts_and_a_killed_server_end_with_one_right_profile_per_user()
    {
        var random = new Random(Seed);
        var (userIds, changed) = await SeedUsersAsync(random);
        var unique = userIds.Select(id => SupabaseEvents.Insert(id, "fault-body@example.com"))
            .Concat(Enumerable.Range(0, (int)(Deliveries * 0.7) - Users)
                .Select(_ => SupabaseEvents.Update(changed[random.Next(changed.Count)], "fault-body@example.com")))
            .ToList();
        var deliveries = unique.Concat(Enumerable.Range(0, Deliveries - unique.Count).Select(_ => unique[random.Next(unique.Count)]))
            .OrderBy(_ => random.Next()).ToList();

        await using var pooler = await PgBouncer.StartAsync(_cluster.Port);
        await using var serve = new LoggedServeProcess(pooler.ConnectionString(_db.Name));
        await serve.StartAsync();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var answers = new ConcurrentDictionary<string, int>();
        var applied = new ConcurrentDictionary<Guid, bool>();
        var transportRetries = 0;
        var done = 0;
        var clock = Stopwatch.StartNew();

        var timeline = new ConcurrentQueue<string>();
        async Task FaultAsync(int after, string name, Func<Task> fault)
        {
            while (Volatile.Read(ref done) < after)
            {
                await Task.Delay(10);
            }

            var started = clock.Elapsed;
            await fault();
            timeline.Enqueue($"{name} at delivery {after} ({(clock.Elapsed - started).TotalSeconds:0.0} s)");
        }

        var faults = Task.Run(async () =>
        {
            await FaultAsync(Deliveries / 4, "PostgreSQL restarted", _cluster.RestartServerAsync);
            await FaultAsync(Deliveries / 2, "serve killed and started again", async () =>
            {
                await serve.KillAsync();
                await Task.Delay(500);
                await serve.StartAsync();
            });
            await FaultAsync(Deliveries * 3 / 4, "PostgreSQL restarted", _cluster.RestartServerAsync);
        });

        await Parallel.ForEachAsync(deliveries, new ParallelOptions { MaxDegreeOfParallelism = Senders }, async (body, token) =>
        {
            // A sender whose connection fails (serve is down) tries again, as Supabase's delivery does; an answer is final.
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    using var request = StandardWebhooks.SignedRequest(new Uri(serve.BaseAddress, "/api/auth-events"), body);
                    using var response = await client.SendAsync(request, token);
                    var outcome = response.StatusCode == HttpStatusCode.OK
                        ? (await response.Content.ReadFromJsonAsync<JsonElement>(token)).GetProperty("outcome").GetString()
                        : null;
                    answers.AddOrUpdate($"{(int)response.StatusCode} {outcome}".Trim(), 1, (_, n) => n + 1);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        applied[JsonDocument.Parse(body).RootElement.GetProperty("record").GetProperty("id").GetGuid()] = true;
                    }

                    break;
                }
                catch (HttpRequestException) when (attempt < 50)
                {
                    Interlocked.Increment(ref transportRetries);
                    await Task.Delay(200, token);
                }
            }

            Interlocked.Increment(ref done);
        });
        await faults;
        _db.ClearPools(); // the test's own connections died with the restarts
        var sending = clock.Elapsed;

        // Every 200 converged its user: the profile is right now, before any reconcile.
        var derived = (await Truth.DerivedAsync(_db)).ToDictionary(p => p.UserId);
        var before = (await Truth.ProfilesAsync(_db)).ToDictionary(p => p.UserId);
        var wrongAfter200 = applied.Keys.Where(id => !before.TryGetValue(id, out var profile) || profile != derived[id]).ToList();

        using var replay = new HttpRequestMessage(HttpMethod.Post, new Uri(serve.BaseAddress, "/api/profiles/replay")) { Content = JsonContent.Create(new { }) };
        replay.Headers.Add("x-functions-key", SupabaseEvents.AdminKey);
        using var replayed = await client.SendAsync(replay);
        var report = await replayed.Content.ReadAsStringAsync();
        await serve.KillAsync();

        var summary = $"fault run: {Deliveries} deliveries ({unique.Count} distinct) for {Users} users, {Senders} senders, {sending.TotalSeconds:0.0} s; "
                      + string.Join(", ", answers.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key} ×{a.Value}"))
                      + $"; transport retries {transportRetries}; users with a 200: {applied.Count}; {string.Join("; ", timeline)}; reconcile: {report}";
        RunReport.Write(summary);

        Assert.True(answers.Keys.All(key => key.StartsWith("200 ", StringComparison.Ordinal) || key == "503"), summary);
        Assert.Empty(wrongAfter200);
        Assert.Equal(HttpStatusCode.OK, replayed.StatusCode);
        var after = await Truth.ProfilesAsync(_db);
        Assert.Equal(Users, after.Count);
        Assert.Equal(derived.Values.OrderBy(p => p.UserId), after);
        var handlerLines = LogAudit.Check(serve.Lines, ["fault-", "Fault Name", "+1555"]);
        // At most one line per request. SIGKILL drops the lines the console logger had queued but not yet written,
        // so a few answered events may lack theirs (the in-process suites check exactly one per event).
        Assert.InRange(handlerLines, answers.Values.Sum() * 95 / 100, Deliveries + transportRetries);
    }

    /// <summary>5,000 signups; then 3,000 of them change (e-mail, name, ban) as later updates would.</summary>
    private async Task<(List<Guid> All, List<Guid> Changed)> SeedUsersAsync(Random random)
    {
        await _db.ExecuteAsync(
            """
            insert into auth.users (instance_id, id, aud, role, email, phone, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
            select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
                   case when n % 10 <> 0 then 'fault-' || n || '@example.com' end,
                   case when n % 5 = 0 then '+1555' || lpad(n::text, 7, '0') end,
                   case when n % 2 = 0 then jsonb_build_object('full_name', 'Fault Name ' || n) else '{}' end,
                   '{"provider":"email"}', now(), now()
            from generate_series(1, $1) n
            """,
            "supabase_auth_admin",
            Users);
        var all = new List<Guid>();
        await using (var command = _db.As("supabase_admin").CreateCommand("select id from auth.users order by id"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                all.Add(reader.GetGuid(0));
            }
        }

        var changed = all.OrderBy(_ => random.Next()).Take(3_000).ToList();
        await _db.ExecuteAsync(
            """
            update auth.users u
            set email = 'fault-new-' || substr(u.id::text, 1, 8) || '@example.com',
                raw_user_meta_data = u.raw_user_meta_data || jsonb_build_object('name', 'Fault Name changed'),
                banned_until = case when get_byte(uuid_send(u.id), 15) % 7 = 0 then now() + interval '30 days' end,
                updated_at = now()
            where u.id = any($1)
            """,
            "supabase_auth_admin",
            changed.ToArray());
        return (all, changed);
    }
}
