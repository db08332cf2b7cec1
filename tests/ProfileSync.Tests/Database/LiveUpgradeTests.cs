using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>
/// The upgrade of the original setup while signups keep arriving: the migrations applied as <c>supabase db push</c>
/// applies them, with supautils loaded as hosted Supabase loads it (every cluster of the tests loads it).
/// </summary>
public sealed partial class LiveUpgradeTests(PostgresCluster cluster)
{
    private static readonly string MigrationsDirectory = Path.Combine(Repository.Root, "supabase", "migrations");

    private const string SeedUsers = """
        insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
        select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', 'seed-' || n || '@example.com',
               case n % 4 when 0 then jsonb_build_object('full_name', 'Full ' || n)
                          when 1 then jsonb_build_object('display_name', 'Shown ' || n) else '{}' end,
               '{"provider":"email","providers":["email"]}', now(), now()
        from generate_series(1, $1) n
        """;

    // The first customer's setup (its table and trigger), its rows as the one-off backfill made them, and a hand-set
    // admin here and there.
    private const string OriginalSetup = UpgradeTests.OriginalSetup + $$"""
        insert into public.user_profiles (user_id, email, display_name, is_active, attributes)
        select u.id, u.email, coalesce(u.raw_user_meta_data ->> 'display_name', u.email), true,
               '{{UpgradeTests.OriginalDefaults}},"created_via":"manual_fix"}'::jsonb
        from auth.users u;
        update public.user_profiles set display_name = 'Chosen ' || email, attributes = '{"role":"admin","is_admin":true}'
        where email like '%00@example.com';
        analyze auth.users;
        analyze public.user_profiles;
        """;

    // Locks on auth.users that a signup (INSERT) or a sign-in (UPDATE) waits for.
    private const string MigratorLocks = """
        select coalesce(bool_or(l.relation = 'public.user_profiles'::regclass and l.mode = 'RowExclusiveLock'), false),
               coalesce(string_agg(l.mode, ',') filter (where l.relation = 'auth.users'::regclass
                          and l.mode in ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')), '')
        from pg_locks l where l.pid = $1 and l.granted and l.locktype = 'relation'
        """;

    [Fact]
    public async Task Live_upgrade_of_the_original_setup_applies_every_file_while_signups_never_wait_long_or_fail()
    {
        // PROFILESYNC_UPGRADE_USERS sizes it by hand (2,000,000 for the figures in docs).
        var users = int.TryParse(Environment.GetEnvironmentVariable("PROFILESYNC_UPGRADE_USERS"), out var n) ? n : 50_000;
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        Assert.Contains("auth.users", await db.ScalarAsync<string>("select current_setting('supautils.policy_grants')"), StringComparison.Ordinal);
        Assert.Contains("auth.users", await db.ScalarAsync<string>("select current_setting('supautils.drop_trigger_grants')"), StringComparison.Ordinal);
        await LongAsync<object>(db, SeedUsers, users);
        await LongAsync<object>(db, OriginalSetup);
        var chosen = await LongAsync<long>(db, "select count(*) from public.user_profiles where display_name like 'Chosen %'");
        Assert.True(chosen > 0);

        // Signups as Supabase Auth writes them, one every 100 ms whatever the ones before are doing, each on a
        // connection of its own, half of them with a full name the original trigger does not read.
        using var stop = new CancellationTokenSource();
        var signups = new ConcurrentBag<(Guid Id, TimeSpan Took, Exception? Failure)>();
        var signupLoop = Task.Run(async () =>
        {
            var running = new List<Task>();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var number = i;
                running.Add(Task.Run(async () =>
                {
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        var id = number % 2 == 0
                            ? await db.SignUpWithEmailAsync($"live-{number}@example.com", SupabaseAuthFlows.Confirmation.Autoconfirm)
                            : await db.SignUpLikeSupabaseAuthAsync($"live-{number}@example.com", $"Live Person {number}");
                        signups.Add((id, clock.Elapsed, null));
                    }
                    catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                    {
                        signups.Add((Guid.Empty, clock.Elapsed, e));
                    }
                }));
                await Task.Delay(100);
            }

            await Task.WhenAll(running);
        });

        // The migrations as supabase db push applies them: one connection, each file's statements sent together in one
        // implicit transaction (a DO block that commits and a concurrent index build end it where they stand).
        await using var migrator = new NpgsqlConnection(db.ConnectionString() + ";Pooling=false;Command Timeout=0");
        await migrator.OpenAsync();
        await using (var pid = new NpgsqlCommand("select pg_backend_pid()", migrator))
        {
            var migratorPid = (int)(await pid.ExecuteScalarAsync())!;
            var samples = new ConcurrentBag<(string File, string AuthUsersLocks)>();
            var current = "";
            var watch = Task.Run(async () =>
            {
                await using var monitor = db.As("supabase_admin").CreateCommand(MigratorLocks);
                monitor.Parameters.AddWithValue(migratorPid);
                while (!stop.IsCancellationRequested)
                {
                    await using (var reader = await monitor.ExecuteReaderAsync())
                    {
                        await reader.ReadAsync();
                        if (reader.GetBoolean(0) && reader.GetString(1).Length > 0)
                        {
                            samples.Add((current, reader.GetString(1)));
                        }
                    }

                    await Task.Delay(5);
                }
            });

            await Task.Delay(1000); // signups flowing before the first file
            var files = new List<(string File, TimeSpan Took, Exception? Failure)>();
            foreach (var file in Directory.GetFiles(MigrationsDirectory, "*.sql").Order(StringComparer.Ordinal))
            {
                current = Path.GetFileName(file);
                var clock = Stopwatch.StartNew();
                try
                {
                    await using var apply = new NpgsqlCommand(await File.ReadAllTextAsync(file), migrator);
                    await apply.ExecuteNonQueryAsync();
                    files.Add((current, clock.Elapsed, null));
                }
                catch (PostgresException e)
                {
                    files.Add((current, clock.Elapsed, e));
                    break;
                }
            }

            await Task.Delay(1000);
            await stop.CancelAsync();
            await signupLoop;
            await watch;

            var longest = signups.Max(s => s.Took);
            RunReport.Write($"live upgrade of the original setup at {users:N0} users, supautils loaded, signups every 100 ms: " +
                string.Join(", ", files.Select(f => $"{f.File.Split('_', 2)[1]} {f.Took.TotalSeconds:F1} s")) +
                $"; {signups.Count} signups, longest {longest.TotalSeconds:F2} s");

            Assert.All(files, f => Assert.Null(f.Failure));
            Assert.Equal(Directory.GetFiles(MigrationsDirectory, "*.sql").Length, files.Count);
            Assert.All(signups, s => Assert.Null(s.Failure));
            Assert.True(signups.Count >= 10, $"only {signups.Count} signups ran during the upgrade");
            Assert.True(longest < TimeSpan.FromSeconds(2), $"a signup waited {longest.TotalSeconds:F2} s");
            // While the migrator writes profile rows, it holds nothing on auth.users that a signup or sign-in waits for.
            Assert.Empty(samples);
        }

        // Every user has exactly one profile; after the next reconcile, what no one chose is what auth.users implies,
        // and what an admin chose is kept.
        Assert.Equal(0L, await LongAsync<long>(db, "select count(*) from auth.users u where not exists (select 1 from public.user_profiles p where p.user_id = u.id)"));
        Assert.Equal(0L, await LongAsync<long>(db, "select count(*) from (select user_id from public.user_profiles group by 1 having count(*) > 1) d"));
        Assert.Equal(chosen, await LongAsync<long>(db,
            "select count(*) from public.user_profiles where owned_fields = '{display_name,attributes}' and display_name like 'Chosen %'"));
        Assert.Equal(chosen, await LongAsync<long>(db, "select count(*) from public.user_profiles where owned_fields <> '{}'"));
        await LongAsync<long>(db, "select created from profile_sync.reconcile()");
        var derived = await Truth.DerivedAsync(db);
        var profiles = (await Truth.ProfilesAsync(db)).ToDictionary(p => p.UserId);
        Assert.Equal(derived.Count, profiles.Count);
        var wrong = derived.Where(d => profiles[d.UserId] != d && !(profiles[d.UserId].DisplayName ?? "").StartsWith("Chosen ", StringComparison.Ordinal)).Take(3).ToList();
        Assert.True(wrong.Count == 0, "profiles that are not what auth.users implies: " + string.Join("; ", wrong.Select(w => $"{w} but {profiles[w.UserId]}")));
    }

    // The file that puts the triggers on auth.users, while a transaction of the auth server's holds auth.users for 3 s:
    // it lets go between brief tries instead of queueing every signup behind its request until that transaction ends.
    [Fact]
    public async Task The_auth_users_file_never_queues_signups_behind_a_long_transaction_on_auth_users()
    {
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        await using var migrator = new NpgsqlConnection(db.ConnectionString() + ";Pooling=false;Command Timeout=0");
        await migrator.OpenAsync();
        var files = Directory.GetFiles(MigrationsDirectory, "*.sql").Order(StringComparer.Ordinal).ToList();
        var authUsersFile = files.Single(f => f.EndsWith("_auth_users.sql", StringComparison.Ordinal));
        foreach (var file in files.TakeWhile(f => f != authUsersFile))
        {
            await using var before = new NpgsqlCommand(await File.ReadAllTextAsync(file), migrator);
            await before.ExecuteNonQueryAsync();
        }

        var someone = await db.SignUpAsync(email: "holder@example.com");
        await using var holder = await db.As("supabase_auth_admin").OpenConnectionAsync();
        await using var held = await holder.BeginTransactionAsync();
        await using (var signIn = new NpgsqlCommand("update auth.users set last_sign_in_at = now() where id = $1", holder, held))
        {
            signIn.Parameters.AddWithValue(someone);
            await signIn.ExecuteNonQueryAsync();
        }

        var waits = new ConcurrentBag<TimeSpan>();
        var signupsDone = Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
            {
                var clock = Stopwatch.StartNew();
                await db.SignUpLikeSupabaseAuthAsync($"during-{i}@example.com", $"During {i}");
                waits.Add(clock.Elapsed);
                await Task.Delay(100);
            }
        });
        await using var apply = new NpgsqlCommand(await File.ReadAllTextAsync(authUsersFile), migrator);
        var applied = apply.ExecuteNonQueryAsync();
        await Task.Delay(3000);
        await held.CommitAsync();
        await applied;
        await signupsDone;

        Assert.True(waits.Max() < TimeSpan.FromSeconds(1), $"a signup waited {waits.Max().TotalSeconds:F2} s");
        Assert.Equal(1L, await db.ScalarAsync<long>(
            "select count(*) from pg_trigger where tgrelid = 'auth.users'::regclass and tgname = 'profile_sync_user_created'"));
    }

    // As supabase_admin, without the tests' command timeout: seeding and checking millions of users takes minutes.
    private static async Task<T> LongAsync<T>(TestDatabase db, string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString("supabase_admin") + ";Pooling=false;Command Timeout=0");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.AddWithValue(parameter);
        }

        return await command.ExecuteScalarAsync() is T value ? value : default!;
    }

    [Fact]
    public void A_file_with_policy_statements_holds_nothing_else_and_waits_for_each_lock_briefly()
    {
        var withPolicies = 0;
        foreach (var file in Directory.GetFiles(MigrationsDirectory, "*.sql"))
        {
            var code = Comment().Replace(File.ReadAllText(file), "");
            if (!Policy().IsMatch(code))
            {
                continue;
            }

            withPolicies++;
            var name = Path.GetFileName(file);
            Assert.False(RowWrite().IsMatch(code), $"{name} has policy statements and writes rows");
            Assert.False(OtherDdl().IsMatch(code), $"{name} has policy statements and other DDL");
            Assert.Matches(ShortLockTimeout(), code);
        }

        Assert.True(withPolicies > 0);
    }

    [GeneratedRegex("--[^\n]*")]
    private static partial Regex Comment();

    [GeneratedRegex(@"\b(create|alter|drop)\s+policy\b", RegexOptions.IgnoreCase)]
    private static partial Regex Policy();

    [GeneratedRegex(@"\b(insert\s+into|update\s+[\w.""]+(\s+as)?(\s+\w+)?\s+set|delete\s+from|truncate)\b", RegexOptions.IgnoreCase)]
    private static partial Regex RowWrite();

    [GeneratedRegex(@"\b(alter\s+table|create\s+(or\s+replace\s+)?(table|function|trigger|view|index|unique\s+index)|grant|revoke)\b", RegexOptions.IgnoreCase)]
    private static partial Regex OtherDdl();

    // Shorter than PostgreSQL's deadlock check (deadlock_timeout, 1 s by default), so a signup is never its victim.
    [GeneratedRegex(@"set\s+local\s+lock_timeout\s*=\s*'\d{1,3}ms'", RegexOptions.IgnoreCase)]
    private static partial Regex ShortLockTimeout();
}
