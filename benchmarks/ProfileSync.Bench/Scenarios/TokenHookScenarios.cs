using System.Diagnostics;
using Npgsql;
using ProfileSync.Bench.Harness;
using static ProfileSync.Bench.Harness.Measure;
using static ProfileSync.Bench.Harness.Sql;

namespace ProfileSync.Bench.Scenarios;

/// <summary>
/// Tokens. Supabase Auth calls a Postgres hook inside the transaction that issues the token
/// (internal/hooks/hookspgfunc/hookspgfunc.go: `set local statement_timeout`, `select hook(?)`, the timeout reset).
/// Issuance is measured as a token refresh, Supabase Auth's most frequent, statement for statement as
/// internal/tokens/service.go runs one with the default (12-character) refresh tokens; against the same refresh
/// with a hook that returns the claims it was given. A row of the hook's statement alone shows its own cost.
/// </summary>
internal static class TokenHookScenarios
{
    private const string TokenHook = "profile_sync.custom_access_token_hook", BareHook = "public.bare_token_hook";

    public static async Task RunAsync(BenchContext bench)
    {
        var (admin, signups) = (bench.Admin, bench.Options.Signups);
        await Execute(admin, """
            create or replace function public.bare_token_hook(event jsonb) returns jsonb language sql
            as $$ select jsonb_build_object('claims', event -> 'claims') $$;
            grant execute on function public.bare_token_hook(jsonb) to supabase_auth_admin;
            """);
        await Execute(admin, $"""
            insert into auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at)
            select gen_random_uuid(), u.id, now(), now(), 'aal1', now()
            from (select p.user_id as id from public.user_profiles p order by p.user_id limit {signups}) u; -- existing users, with their profiles
            insert into auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
            select s.id, now(), now(), 'password', gen_random_uuid() from auth.sessions s;
            """);
        await Execute(admin, "vacuum analyze auth.sessions, auth.mfa_amr_claims");
        // The hook's own database time, as PostgreSQL counts it: time inside the function, per call.
        await Execute(admin, "alter system set track_functions = 'pl'");
        await Execute(admin, "select pg_reload_conf()");
        var sessions = new List<(Guid User, Guid Session)>();
        await using (var command = admin.CreateCommand("select user_id, id from auth.sessions order by user_id"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                sessions.Add((reader.GetGuid(0), reader.GetGuid(1)));
            }
        }

        async Task CallHookAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string hook, Guid user, Guid session, CancellationToken token)
        {
            await using var command = new NpgsqlCommand($"select {hook}($1::jsonb)::text", connection, transaction);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Event(user, session) });
            var answer = (string)(await command.ExecuteScalarAsync(token))!;
            Check(answer.Contains("\"claims\"", StringComparison.Ordinal) && (hook == BareHook || answer.Contains("\"user_role\"", StringComparison.Ordinal)),
                "the hook answered claims with user_role");
        }

        async Task<double> HookCallsPerSecondAsync(string hook)
        {
            await using var authPrepared = bench.AuthPool();
            var clock = Stopwatch.StartNew();
            foreach (var (user, session) in sessions)
            {
                await using var connection = await authPrepared.OpenConnectionAsync();
                await CallHookAsync(connection, null, hook, user, session, CancellationToken.None);
            }

            return sessions.Count / clock.Elapsed.TotalSeconds;
        }

        // The hook's statement timed inside each refresh: its mean per token, by hook, one entry per run.
        var hookStatementMicros = new Dictionary<string, List<double>>();
        async Task<double> RefreshesPerSecondAsync(string hook, int clients)
        {
            var hookTicks = 0L;
            // Each session's refresh token as a sign-in left it.
            var tokens = sessions.ToDictionary(s => s.Session, _ => RandomToken());
            await using (var batch = admin.CreateBatch())
            {
                foreach (var (user, session) in sessions)
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(
                        "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, session_id) values ('00000000-0000-0000-0000-000000000000', $1, $2, false, now(), now(), $3)")
                    {
                        Parameters = { new() { Value = tokens[session] }, new() { Value = user.ToString() }, new() { Value = session } },
                    });
                }

                await batch.ExecuteNonQueryAsync();
            }

            var timeInside = clients == 1 && hook == TokenHook;
            if (timeInside)
            {
                await Execute(admin, $"select pg_stat_reset_single_function_counters('{hook}(jsonb)'::regprocedure)");
            }

            await using var authPrepared = bench.AuthPool();
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = clients }, async (pair, token) =>
            {
                var (user, session) = pair;
                var refreshToken = tokens[session];
                await using var connection = await authPrepared.OpenConnectionAsync(token);
                async Task<long?> RunAsync(NpgsqlTransaction? transaction, string sql, params object[] values)
                {
                    await using var command = new NpgsqlCommand(sql, connection, transaction);
                    foreach (var value in values)
                    {
                        command.Parameters.Add(new NpgsqlParameter { Value = value });
                    }

                    await using var reader = await command.ExecuteReaderAsync(token);
                    if (!await reader.ReadAsync(token))
                    {
                        return null;
                    }

                    // The refresh token's id, which the revocation needs.
                    var id = Enumerable.Range(0, reader.FieldCount).FirstOrDefault(i => reader.GetName(i) == "id" && reader.GetFieldType(i) == typeof(long), -1);
                    return id < 0 ? null : reader.GetInt64(id);
                }

                // FindUserWithRefreshToken, outside the transaction, then again inside it with the rows locked; pop loads
                // a user with its identities and factors, and a session with its AMR claims.
                async Task<long?> FindAsync(NpgsqlTransaction? transaction)
                {
                    if (transaction is not null)
                    {
                        await RunAsync(transaction, "SELECT * FROM \"refresh_tokens\" WHERE token = $1 LIMIT 1 FOR UPDATE SKIP LOCKED;", refreshToken);
                    }

                    var id = await RunAsync(transaction, "SELECT refresh_tokens.* FROM auth.refresh_tokens AS refresh_tokens WHERE token = $1 LIMIT 1", refreshToken);
                    await RunAsync(transaction, "SELECT users.* FROM auth.users AS users WHERE id = $1 LIMIT 1", user);
                    await RunAsync(transaction, "SELECT identities.* FROM auth.identities AS identities WHERE user_id = $1", user);
                    await RunAsync(transaction, "SELECT mfa_factors.* FROM auth.mfa_factors AS mfa_factors WHERE user_id = $1", user);
                    if (transaction is not null)
                    {
                        await RunAsync(transaction, "SELECT * FROM \"sessions\" WHERE id = $1 LIMIT 1 FOR UPDATE SKIP LOCKED;", session);
                    }

                    await FindSessionAsync(transaction);
                    return id;
                }

                async Task FindSessionAsync(NpgsqlTransaction? transaction)
                {
                    await RunAsync(transaction, "SELECT sessions.* FROM auth.sessions AS sessions WHERE id = $1 LIMIT 1", session);
                    await RunAsync(transaction, "SELECT mfa_amr_claims.* FROM auth.mfa_amr_claims AS mfa_amr_claims WHERE session_id = $1", session);
                }

                await FindAsync(null);
                await using var transaction = await connection.BeginTransactionAsync(token);
                var refreshTokenId = (await FindAsync(transaction))!.Value;
                const string audit = "INSERT INTO auth.audit_log_entries (created_at, id, instance_id, ip_address, payload) VALUES (now(), $1, '00000000-0000-0000-0000-000000000000', '', $2::json)";
                await RunAsync(transaction, audit, Guid.NewGuid(), $$"""{"action":"token_refreshed","actor_id":"{{user}}","actor_username":"user@example.com","actor_via_sso":false,"log_type":"token"}""");
                await RunAsync(transaction, audit, Guid.NewGuid(), $$"""{"action":"token_revoked","actor_id":"{{user}}","actor_username":"user@example.com","actor_via_sso":false,"log_type":"token"}""");
                await RunAsync(transaction, "UPDATE auth.refresh_tokens AS refresh_tokens SET revoked = $1, updated_at = now() WHERE refresh_tokens.id = $2", true, refreshTokenId);
                await RunAsync(transaction, "INSERT INTO auth.refresh_tokens (created_at, instance_id, parent, revoked, session_id, token, updated_at, user_id) VALUES (now(), '00000000-0000-0000-0000-000000000000', $1, false, $2, $3, now(), $4) returning id",
                    refreshToken, session, RandomToken(), user.ToString());
                await RunAsync(transaction, "UPDATE auth.users AS users SET last_sign_in_at = now(), updated_at = now() WHERE users.id = $1", user);
                // GenerateAccessToken: the session again, then the hook as the dispatcher calls it.
                await FindSessionAsync(transaction);
                await RunAsync(transaction, "set local statement_timeout TO '2000';");
                var hookClock = Stopwatch.StartNew();
                await CallHookAsync(connection, transaction, hook, user, session, token);
                Interlocked.Add(ref hookTicks, hookClock.Elapsed.Ticks);
                await RunAsync(transaction, "set local statement_timeout TO default;");
                await RunAsync(transaction, "UPDATE auth.sessions AS sessions SET ip = $1::inet, refreshed_at = now() at time zone 'utc', updated_at = now(), user_agent = $2 WHERE sessions.id = $3",
                    "127.0.0.1", "supabase-js/2", session);
                await transaction.CommitAsync(token);
            });
            var rate = sessions.Count / clock.Elapsed.TotalSeconds;
            await authPrepared.DisposeAsync(); // its backends report their function statistics as they exit
            if (clients == 1)
            {
                (hookStatementMicros.TryGetValue(hook, out var runs) ? runs : hookStatementMicros[hook] = []).Add(TimeSpan.FromTicks(hookTicks).TotalMicroseconds / sessions.Count);
            }

            if (timeInside)
            {
                var statistics = $"from pg_stat_user_functions where funcid = '{hook}(jsonb)'::regprocedure and calls > 0";
                var calls = $"select coalesce((select calls {statistics}), 0)";
                for (var wait = 0; wait < 50 && await Scalar<long>(admin, calls) < sessions.Count; wait++)
                {
                    await Task.Delay(100);
                }

                Check(await Scalar<long>(admin, calls) == sessions.Count, "PostgreSQL counted every call of the hook");
                bench.Report.HookFunctionMicros.Add(await Scalar<double>(admin, $"select total_time * 1000 / calls {statistics}"));
            }

            return rate;
        }

        foreach (var clients in new[] { 1, 16 })
        {
            await bench.MeasureAsync($"token refresh with the token hook, {clients} client{(clients == 1 ? "" : "s")}", "the same refresh with a hook that returns the claims unchanged", "≥ 0.9×",
                product: () => RefreshesPerSecondAsync(TokenHook, clients),
                baseline: () => RefreshesPerSecondAsync(BareHook, clients),
                unit: "/s");
        }

        if (hookStatementMicros.Count == 2)
        {
            // Same round trip in both: the difference is the hook's own database time per token.
            bench.Report.Rows.Add(Row.From("token hook's statement inside those refreshes, 1 client", "the bare hook's", "≤ bare + 100 µs",
                hookStatementMicros[TokenHook].Zip(hookStatementMicros[BareHook]).ToList(), " µs"));
        }

        await bench.MeasureAsync("token hook's statement alone, 1 client", "the same statement with a hook that returns the claims unchanged", "",
            product: () => HookCallsPerSecondAsync(TokenHook),
            baseline: () => HookCallsPerSecondAsync(BareHook),
            unit: "/s");

        await TokenIsCurrentAsync(bench, sessions[0].User, sessions[0].Session);
    }

    /// <summary>
    /// profile_sync.token_is_current() as a policy reads it (an initPlan, once per statement): a signed-in user's
    /// statement over a table of 1,000 rows whose policy checks the token, against the same table whose policy lets
    /// every row through.
    /// </summary>
    private static async Task TokenIsCurrentAsync(BenchContext bench, Guid user, Guid session)
    {
        var admin = bench.Admin;
        await Execute(admin, """
            create table if not exists public.bench_checked (id integer primary key);
            create table if not exists public.bench_open (id integer primary key);
            insert into public.bench_checked select g from generate_series(1, 1000) g on conflict do nothing;
            insert into public.bench_open select g from generate_series(1, 1000) g on conflict do nothing;
            alter table public.bench_checked enable row level security;
            alter table public.bench_open enable row level security;
            grant select on public.bench_checked, public.bench_open to authenticated;
            drop policy if exists bench_checked_current on public.bench_checked;
            create policy bench_checked_current on public.bench_checked for select to authenticated using ((select profile_sync.token_is_current()));
            drop policy if exists bench_open_all on public.bench_open;
            create policy bench_open_all on public.bench_open for select to authenticated using (true);
            """);
        await Execute(admin, "vacuum analyze public.bench_checked, public.bench_open");
        var claims = await Scalar<string>(admin, $"select (profile_sync.custom_access_token_hook('{Event(user, session)}'::jsonb) -> 'claims')::text");
        const int statements = 2000;

        async Task<double> MicrosPerStatementAsync(string table)
        {
            await using var connection = await admin.OpenConnectionAsync();
            await using (var signIn = new NpgsqlCommand("select set_config('request.jwt.claims', $1, false)", connection))
            {
                signIn.Parameters.Add(new NpgsqlParameter<string> { TypedValue = claims });
                await signIn.ExecuteNonQueryAsync();
            }

            await using (var asUser = new NpgsqlCommand("set role authenticated", connection))
            {
                await asUser.ExecuteNonQueryAsync();
            }

            try
            {
                await using var count = new NpgsqlCommand($"select count(*) from public.{table}", connection);
                await count.PrepareAsync();
                Check((long)(await count.ExecuteScalarAsync())! == 1000, "the current token sees every row");
                var clock = Stopwatch.StartNew();
                for (var i = 0; i < statements; i++)
                {
                    await count.ExecuteScalarAsync();
                }

                return clock.Elapsed.TotalMicroseconds / statements;
            }
            finally
            {
                await using var signOut = new NpgsqlCommand("reset role; reset request.jwt.claims", connection);
                await signOut.ExecuteNonQueryAsync();
            }
        }

        await bench.MeasureAsync("token_is_current() in a policy, a statement over 1,000 rows, 1 client", "the same statement with a policy that lets every row through", "≤ baseline + 20 µs",
            product: () => MicrosPerStatementAsync("bench_checked"),
            baseline: () => MicrosPerStatementAsync("bench_open"),
            unit: " µs");
    }

    private static string Event(Guid user, Guid session) =>
        $$$"""{"user_id":"{{{user}}}","authentication_method":"token_refresh","claims":{"iss":"http://127.0.0.1:54321/auth/v1","aud":"authenticated","exp":1900000000,"iat":1899996400,"sub":"{{{user}}}","role":"authenticated","aal":"aal1","session_id":"{{{session}}}","email":"user@example.com","phone":"","is_anonymous":false,"amr":[{"method":"password","timestamp":1899996400}]}}""";

    // A refresh token as Supabase Auth makes one (crypto.SecureAlphanumeric(12)).
    private static string RandomToken() => System.Security.Cryptography.RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 12);
}
