// Every hot path of ProfileFunctions against a baseline measured in the same run, on the same data, round after round
// (product and baseline alternate). One table: the product's figure, the baseline's, and the ratio (median of the
// rounds, with min and max). No timing assertions: it checks results only.
// Usage: ./dev.sh bench --help
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ProfileSync;
using ProfileSync.Replay;
using ProfileSync.Status;

const string Usage = """
    Usage: ./dev.sh bench [options]
    Every hot path against a baseline measured in the same run, on a PostgreSQL of its own (stopped and removed at
    the end, or when interrupted).
      --users N        auth users to seed (default 1,000,000)
      --signups N      signups per signup run (default 4,000)
      --deliveries N   webhook deliveries per run (default 4,000)
      --rounds N       rounds per row, product and baseline alternating (default 3)
      --batch-size N   replay batch size (default the product's)
      --only TEXT      only the rows whose name contains TEXT (e.g. --only "attribute rules" --rounds 15); give it
                       again for more (--only "missing profiles" --only "in sync")
      --help           this, and nothing started
    """;
var numbers = new Dictionary<string, int>
{
    ["--users"] = 1_000_000,
    ["--signups"] = 4_000,
    ["--deliveries"] = 4_000,
    ["--rounds"] = 3,
    ["--batch-size"] = ReplayRequest.DefaultBatchSize,
};
var only = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    if (args[i] is "--help" or "-h")
    {
        Console.WriteLine(Usage);
        return 0;
    }

    var value = i + 1 < args.Length ? args[i + 1] : null;
    if (args[i] == "--only" && value is not null)
    {
        only.Add(value);
    }
    else if (numbers.ContainsKey(args[i]) && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0)
    {
        numbers[args[i]] = number;
    }
    else
    {
        await Console.Error.WriteLineAsync(numbers.ContainsKey(args[i]) || args[i] == "--only"
            ? $"bench: {args[i]} needs {(args[i] == "--only" ? "a text" : "a whole number above 0")}"
            : $"bench: unknown option '{args[i]}'");
        await Console.Error.WriteLineAsync(Usage);
        return 2;
    }

    i++;
}

var (users, signups, deliveries, rounds, batchSize) = (numbers["--users"], numbers["--signups"], numbers["--deliveries"], numbers["--rounds"], numbers["--batch-size"]);
bool Wanted(string row) => only.Count == 0 || only.Exists(text => row.Contains(text, StringComparison.OrdinalIgnoreCase));
var root = FindRoot();
var directory = Path.Combine(Path.GetTempPath(), "profilesync-bench-" + Guid.NewGuid().ToString("N")[..8]);
var port = FreePort();
var rows = new List<Row>();
// Ctrl+C or a `timeout`: stop the database and the serve processes started here, remove the data, then exit. The run
// itself may fail meanwhile (its database is going away): it waits for this instead.
var interrupted = 0;
void StopEverything(PosixSignalContext signal)
{
    signal.Cancel = true;
    if (Interlocked.Exchange(ref interrupted, 1) == 1)
    {
        return;
    }

    foreach (var process in Serve.Started)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    try
    {
        Cluster("stop", directory, "--remove").GetAwaiter().GetResult();
        Console.Error.WriteLine($"bench: interrupted; stopped its PostgreSQL and removed {directory}");
    }
    catch (InvalidOperationException)
    {
        Console.Error.WriteLine($"bench: interrupted; could not stop its PostgreSQL: run bash supabase/local/cluster.sh stop {directory} --remove");
    }

    Environment.Exit(signal.Signal == PosixSignal.SIGINT ? 130 : 143);
}

using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, StopEverything);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopEverything);
Console.WriteLine($"Seeding a Supabase-shaped PostgreSQL (durable settings) with {users:N0} auth users on port {port}, data in {directory}…");
try
{
    await Cluster("start", directory, port.ToString(CultureInfo.InvariantCulture));
    // The product runs as it ships: nothing but a connection string. The bench's own statements (seeding, baselines)
    // wait as long as they take.
    var connectionString = $"Host=127.0.0.1;Port={port};Database=postgres;Username=postgres;Password=postgres";
    await using var admin = NpgsqlDataSource.Create(connectionString.Replace("Username=postgres", "Username=supabase_admin", StringComparison.Ordinal) + ";Command Timeout=0");
    // Supabase Auth's pool (pgx) hands a connection back as it is; Npgsql's would send DISCARD ALL first, which drops
    // every cached plan of the session, the fallback trigger's too, so each signup would plan its convergence again.
    var authConnectionString = connectionString.Replace("Username=postgres", "Username=supabase_auth_admin", StringComparison.Ordinal) + ";No Reset On Close=true";
    await Execute(admin, "update profile_sync.settings set fallback_trigger_enabled = false");
    await Execute(admin, $$"""
        insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
        select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
               'user' || g || '@example.com', jsonb_build_object('full_name', 'User ' || g), '{"provider":"email"}',
               now() - (g || ' seconds')::interval, now()
        from generate_series(1, {{users}}) g
        """);
    await Execute(admin, "vacuum analyze auth.users");

    using var services = new ServiceCollection()
        .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProfileSync:ConnectionString"] = connectionString,
        }).Build())
        .AddLogging()
        .AddProfileSync()
        .BuildServiceProvider();
    var replayer = services.GetRequiredService<ProfileReplayer>();
    var drift = services.GetRequiredService<DriftReader>();

    // 1. Adopting the product: every profile missing.
    await MeasureAsync($"replay, {users:N0} missing profiles", "seed-style one-statement backfill", "≤ 1.2×",
        product: async () =>
        {
            await ResetAsync(admin);
            var clock = Stopwatch.StartNew();
            var report = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
            Check(report.Created == users, "replay created every profile");
            return Seconds(clock);
        },
        baseline: async () =>
        {
            await ResetAsync(admin);
            var clock = Stopwatch.StartNew();
            // One INSERT … SELECT … LEFT JOIN with constant attributes and no rules, as a sync write (the ownership
            // triggers stand aside as they do for the replay).
            await Execute(admin, """
                select set_config('profile_sync.writer', 'sync', true);
                insert into public.user_profiles (user_id, email, display_name, is_active, attributes, source_updated_at, created_via)
                select u.id, u.email, coalesce(u.raw_user_meta_data ->> 'full_name', u.email), true,
                       '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}',
                       u.updated_at, 'replay'
                from auth.users u
                left join public.user_profiles up on up.user_id = u.id
                where up.user_id is null;
                """);
            return Seconds(clock);
        });
    await ResetAsync(admin);
    await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));

    // 2. Every day: nothing to do.
    await MeasureAsync($"reconcile, {users:N0} users in sync", "status on the same users", "≤ about 1×",
        product: async () =>
        {
            var clock = Stopwatch.StartNew();
            var report = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
            Check(report.Created + report.Refreshed + report.Removed == 0, "an in-sync reconcile writes nothing");
            return Seconds(clock);
        },
        baseline: async () =>
        {
            var clock = Stopwatch.StartNew();
            Check((await drift.ReadAsync()).InSync, "status in sync");
            return Seconds(clock);
        });
    await MeasureAsync($"status, {users:N0} users in sync", "count of users without a profile (one anti-join)", "≤ 5×",
        product: async () =>
        {
            var clock = Stopwatch.StartNew();
            Check((await drift.ReadAsync()).InSync, "status in sync");
            return Seconds(clock);
        },
        baseline: async () =>
        {
            var clock = Stopwatch.StartNew();
            await Execute(admin, "select count(*) from auth.users u where not exists (select 1 from public.user_profiles p where p.user_id = u.id)");
            return Seconds(clock);
        });

    // 3. An admin's bulk statements on auth.users, every user in one statement, as run in the SQL editor: with the
    // product's triggers (the fallback on, the wiring configured) against the same statement with no trigger.
    var bulkRound = 0;
    async Task<double> BulkAsync(string statement, bool triggers)
    {
        await Execute(admin, triggers
            ? "update profile_sync.settings set fallback_trigger_enabled = true; select vault.create_secret('http://127.0.0.1:1/api/auth-events', 'profile_sync_function_url'); select vault.create_secret('v1,whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==', 'profile_sync_webhook_secret')"
            : "alter table auth.users disable trigger user");
        await Execute(admin, "truncate net.http_request_queue");
        await Execute(admin, "vacuum auth.users");
        await Execute(admin, "vacuum public.user_profiles");
        await Execute(admin, "checkpoint");
        var clock = Stopwatch.StartNew();
        await Execute(admin, statement.Replace("{round}", (++bulkRound).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        var seconds = Seconds(clock);
        await Execute(admin, "alter table auth.users enable trigger user; update profile_sync.settings set fallback_trigger_enabled = false; delete from vault.secrets");
        if (triggers)
        {
            Check(await Scalar<long>(admin, "select count(*) from net.http_request_queue") == 0, "the wiring posted nothing for users the fallback converged");
            Check((await drift.ReadAsync()).InSync, "every profile followed the bulk statement");
        }
        else
        {
            await Execute(admin, "select * from profile_sync.reconcile()"); // the profiles follow again, outside the clock
        }

        return seconds;
    }

    const string BulkPlan = "update auth.users set raw_app_meta_data = raw_app_meta_data || jsonb_build_object('plan', 'plan-{round}')";
    await MeasureAsync($"bulk update of {users:N0} users' app metadata", "the same statement with no trigger", "≤ 2×",
        product: () => BulkAsync(BulkPlan, triggers: true),
        baseline: () => BulkAsync(BulkPlan, triggers: false));
    // Every other statement bans everyone, the next lifts it: every product round rewrites every profile's is_active.
    const string BulkBan = "update auth.users set banned_until = case when {round} % 2 = 1 then now() + interval '1 day' end";
    await MeasureAsync($"bulk ban and unban of {users:N0} users", "the same statement with no trigger", "≤ 2×",
        product: () => BulkAsync(BulkBan, triggers: true),
        baseline: () => BulkAsync(BulkBan, triggers: false));

    // 4. Signups as Supabase Auth writes them (INSERT, then role, app and user metadata, confirmation token, in one
    // transaction), 16 at a time, with and without the product's triggers on auth.users.
    (string Sql, Func<string, int, string> Value)[] SignupStatements =
    [
        ("insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at) values ('00000000-0000-0000-0000-000000000000', $1, '', '', $2, '{}', '{}', now(), now())",
            (prefix, i) => $"{prefix}{i}@example.com"),
        ("update auth.users set role = $2, aud = $2, updated_at = now() where id = $1", (_, _) => "authenticated"),
        ("update auth.users set raw_app_meta_data = $2::jsonb, updated_at = now() where id = $1", (_, _) => """{"provider":"email","providers":["email"]}"""),
        ("update auth.users set raw_user_meta_data = $2::jsonb, updated_at = now() where id = $1", (_, i) => $$"""{"full_name":"Signup {{i}}","email_verified":false}"""),
        ("update auth.users set confirmation_token = $2, confirmation_sent_at = now(), updated_at = now() where id = $1", (prefix, i) => $"tok-{prefix}{i}"),
    ];
    var signupRound = 0;
    var queued = 0L;
    async Task<double> SignupsPerSecondAsync(string setup, bool wired, bool fallback = true)
    {
        await Execute(admin, $"alter table auth.users disable trigger user; {setup}");
        await Execute(admin, wired
            ? "select vault.create_secret('http://127.0.0.1:1/api/auth-events', 'profile_sync_function_url'); select vault.create_secret('v1,whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==', 'profile_sync_webhook_secret')"
            : "delete from vault.secrets");
        await Execute(admin, $"update profile_sync.settings set fallback_trigger_enabled = {fallback}; truncate net.http_request_queue; checkpoint");
        var prefix = $"s{++signupRound}-";
        // Prepared statements, one round trip each, parameters bound, as Supabase Auth (pop over pgx) sends them.
        await using var authPrepared = AuthPool();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, signups), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, token) =>
        {
            var id = Guid.NewGuid();
            await using var connection = await authPrepared.OpenConnectionAsync(token);
            await using var transaction = await connection.BeginTransactionAsync(token);
            foreach (var (sql, value) in SignupStatements)
            {
                await using var command = new NpgsqlCommand(sql, connection, transaction);
                command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = id });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = value(prefix, i) });
                await command.ExecuteNonQueryAsync(token);
            }

            await transaction.CommitAsync(token);
        });
        var rate = signups / clock.Elapsed.TotalSeconds;
        if (wired)
        {
            queued = await Scalar<long>(admin, "select count(*) from net.http_request_queue");
        }

        await Execute(admin, "alter table auth.users enable trigger user; update profile_sync.settings set fallback_trigger_enabled = false; delete from vault.secrets; delete from profile_sync.attribute_rules");
        return rate;
    }

    // The product's triggers on auth.users: the fallback converges, and the wiring posts once configured.
    const string ProductTriggers = "alter table auth.users enable trigger user";
    await MeasureAsync("signups with the fallback trigger", "signups with no trigger", "≥ 0.70×",
        product: () => SignupsPerSecondAsync(ProductTriggers, wired: false),
        baseline: () => SignupsPerSecondAsync("", wired: false),
        unit: "/s");
    // Ten rules of each kind, as a team might keep: the provider and app metadata ones match these signups, the
    // domain ones wait for a confirmation that does not come here.
    const string TenRules = """
        insert into profile_sync.attribute_rules (position, email_domain, provider, app_metadata, attributes)
        select n, case when n % 3 = 0 then 'team' || n || '.example.com' end,
               case when n % 3 = 1 then case when n = 1 then 'email' else 'sso:' || gen_random_uuid() end end,
               case when n % 3 = 2 then case when n = 2 then '{"provider":"email"}'::jsonb else jsonb_build_object('plan', 'plan' || n) end end,
               jsonb_build_object('department', 'Department ' || n, 'level' || n, true)
        from generate_series(1, 10) n;
        """;
    await MeasureAsync("signups with the fallback trigger and 10 attribute rules", "the same with no rule", "≥ 0.95×",
        product: async () =>
        {
            var rate = await SignupsPerSecondAsync(ProductTriggers + ";" + TenRules, wired: false);
            Check(await Scalar<long>(admin, $"select count(*) from public.user_profiles where email like 's{signupRound}-%' and attributes @> '{{\"level1\":true,\"level2\":true}}'") == signups,
                "every signup got the matching rules' attributes");
            return rate;
        },
        baseline: () => SignupsPerSecondAsync(ProductTriggers, wired: false),
        unit: "/s");
    await MeasureAsync("signups with the signed wiring configured", "the same without it", "≥ 0.8×",
        // The wiring alone: the product's triggers with the fallback switched off.
        product: () => SignupsPerSecondAsync(ProductTriggers, wired: true, fallback: false),
        baseline: () => SignupsPerSecondAsync("", wired: false),
        unit: "/s");

    // What a user would otherwise wire: a dashboard Database Webhook on auth.users (inserts, updates and deletes), as
    // the dashboard makes one: a trigger calling supabase_functions.http_request(), which posts the old and new rows
    // whole through pg_net and records each request in supabase_functions.hooks. Written here after Supabase's own.
    await Execute(admin, """
        create schema if not exists supabase_functions;
        create table if not exists supabase_functions.hooks (
          id bigserial primary key, hook_table_id integer not null, hook_name text not null,
          created_at timestamptz not null default now(), request_id bigint);
        create index if not exists supabase_functions_hooks_request_id_idx on supabase_functions.hooks (request_id);
        create index if not exists supabase_functions_hooks_h_table_id_h_name_idx on supabase_functions.hooks (hook_table_id, hook_name);
        create or replace function supabase_functions.http_request() returns trigger language plpgsql security definer as $$
        declare
          request_id bigint;
        begin
          -- arguments: url, method, headers, params, timeout (ms)
          request_id := net.http_post(tg_argv[0],
            jsonb_build_object('old_record', old, 'record', new, 'type', tg_op, 'table', tg_table_name, 'schema', tg_table_schema),
            coalesce(nullif(tg_argv[3], 'null'), '{}')::jsonb, tg_argv[2]::jsonb, coalesce(nullif(tg_argv[4], 'null'), '1000')::integer);
          insert into supabase_functions.hooks (hook_table_id, hook_name, request_id) values (tg_relid, tg_name, request_id);
          return new;
        end
        $$;
        """);
    const string DashboardWebhook = """
        create trigger dashboard_webhook after insert or update or delete on auth.users for each row
        execute function supabase_functions.http_request('http://127.0.0.1:1/hook', 'POST', '{"Content-Type":"application/json"}', '{}', '5000')
        """;
    await MeasureAsync("signups with the signed wiring configured, against a dashboard webhook", "the same with a dashboard Database Webhook on auth.users instead", "≥ 1×",
        product: () => SignupsPerSecondAsync(ProductTriggers, wired: true, fallback: false),
        baseline: async () =>
        {
            var rate = await SignupsPerSecondAsync(DashboardWebhook, wired: false);
            await Execute(admin, "drop trigger dashboard_webhook on auth.users");
            return rate;
        },
        unit: "/s");

    // 3b. Tokens. Supabase Auth calls a Postgres hook inside the transaction that issues the token
    // (internal/hooks/hookspgfunc/hookspgfunc.go: `set local statement_timeout`, `select hook(?)`, the timeout reset).
    // Issuance is measured as a token refresh, Supabase Auth's most frequent, statement for statement as
    // internal/tokens/service.go runs one with the default (12-character) refresh tokens; against the same refresh
    // with a hook that returns the claims it was given. A row of the hook's statement alone shows its own cost.
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

    const string TokenHook = "profile_sync.custom_access_token_hook", BareHook = "public.bare_token_hook";
    // pgx, under pop, prepares and caches each statement on its connection. Each run has a pool of its own: Go's
    // database/sql hands out the connection returned last, so one client keeps one backend, warm; Npgsql's pool hands
    // its idle connections out in turn, and one client after a 16-client run would go round 16 backends, each cold.
    NpgsqlDataSource AuthPool() => NpgsqlDataSource.Create(authConnectionString + ";Max Auto Prepare=32");
    static string Event(Guid user, Guid session) =>
        $$$"""{"user_id":"{{{user}}}","authentication_method":"token_refresh","claims":{"iss":"http://127.0.0.1:54321/auth/v1","aud":"authenticated","exp":1900000000,"iat":1899996400,"sub":"{{{user}}}","role":"authenticated","aal":"aal1","session_id":"{{{session}}}","email":"user@example.com","phone":"","is_anonymous":false,"amr":[{"method":"password","timestamp":1899996400}]}}""";

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
        await using var authPrepared = AuthPool();
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
    var hookFunctionMicros = new List<double>();
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

        await using var authPrepared = AuthPool();
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
            hookFunctionMicros.Add(await Scalar<double>(admin, $"select total_time * 1000 / calls {statistics}"));
        }

        return rate;
    }

    foreach (var clients in new[] { 1, 16 })
    {
        await MeasureAsync($"token refresh with the token hook, {clients} client{(clients == 1 ? "" : "s")}", "the same refresh with a hook that returns the claims unchanged", "≥ 0.9×",
            product: () => RefreshesPerSecondAsync(TokenHook, clients),
            baseline: () => RefreshesPerSecondAsync(BareHook, clients),
            unit: "/s");
    }

    if (hookStatementMicros.Count == 2)
    {
        // Same round trip in both: the difference is the hook's own database time per token.
        rows.Add(Row.From("token hook's statement inside those refreshes, 1 client", "the bare hook's", "≤ bare + 100 µs",
            hookStatementMicros[TokenHook].Zip(hookStatementMicros[BareHook]).ToList(), " µs"));
    }

    await MeasureAsync("token hook's statement alone, 1 client", "the same statement with a hook that returns the claims unchanged", "",
        product: () => HookCallsPerSecondAsync(TokenHook),
        baseline: () => HookCallsPerSecondAsync(BareHook),
        unit: "/s");

    // 5. Webhook deliveries through a real `profilesync serve` process, against raw upserts of the same rows.
    var startup = new List<(double Product, double Baseline)>();
    for (var round = 0; round < (Wanted("serve: process start") ? rounds : 0); round++)
    {
        var bare = Stopwatch.StartNew();
        await RunCliAsync(connectionString, "--help");
        var bareMs = bare.Elapsed.TotalMilliseconds;
        await using var serve = await Serve.StartAsync(Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"), connectionString);
        startup.Add((serve.FirstOkMilliseconds, bareMs));
    }

    if (startup.Count > 0)
    {
        rows.Add(Row.From("serve: process start to its first 200 (/api/health)", "the same CLI started for --help", "", startup, " ms"));
    }

    if (Wanted("webhook deliveries"))
    {
        await using (var serve = await Serve.StartAsync(Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"), connectionString))
        {
            var ids = new List<Guid>();
            await using (var command = admin.CreateCommand($"select id from auth.users order by id limit {deliveries}"))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    ids.Add(reader.GetGuid(0));
                }
            }

            await using var raw = NpgsqlDataSource.Create(connectionString + ";Options=-c profile_sync.writer=sync;Command Timeout=0");
            using var http = new HttpClient { BaseAddress = serve.BaseAddress };
            foreach (var senders in new[] { 1, 16, 64 })
            {
                var webhook = new List<Latencies>();
                var upserts = new List<Latencies>();
                for (var round = 0; round < rounds; round++)
                {
                    await DeleteProfilesAsync(admin, ids);
                    webhook.Add(await Latencies.MeasureAsync(ids, senders, async (id, token) =>
                    {
                        using var request = Serve.SignedInsert(id);
                        using var response = await http.SendAsync(request, token);
                        Check(response.StatusCode == HttpStatusCode.OK, $"webhook answered {(int)response.StatusCode}");
                    }));
                    Check(await Scalar<long>(admin, $"select count(*) from public.user_profiles where user_id = any('{{{string.Join(',', ids)}}}')") == ids.Count, "every delivery created its profile");

                    await DeleteProfilesAsync(admin, ids);
                    upserts.Add(await Latencies.MeasureAsync(ids, senders, async (id, token) =>
                    {
                        await using var command = raw.CreateCommand("""
                            insert into public.user_profiles (user_id, email, display_name, is_active, attributes, source_updated_at, created_via)
                            values ($1, $2, $3, true, '{"role":"user"}', now(), 'webhook')
                            on conflict (user_id) do update set email = excluded.email, display_name = excluded.display_name, updated_at = now()
                            """);
                        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = id });
                        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = $"{id:N}@example.com" });
                        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = "User" });
                        await command.ExecuteNonQueryAsync(token);
                    }));
                }

                rows.Add(Row.FromLatencies($"webhook deliveries, {senders} sender{(senders == 1 ? "" : "s")}", "raw single-row upserts, same rows and concurrency",
                    senders == 16 ? "≥ 0.7×, p99 ≤ 25 ms" : "", webhook, upserts));
            }
        }
    }

    Console.WriteLine();
    Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1024 / 1024 / 1024} GiB, "
                      + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}; PostgreSQL 15 (fsync on); {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    Console.WriteLine($"{rounds} rounds per row, product and baseline alternating (product first in odd rounds, baseline first in even ones); ratio = product / baseline of the figure shown (median of the rounds, min–max)");
    Console.WriteLine($"{users:N0} auth users; {signups:N0} signups per run; {deliveries:N0} deliveries per run; the wiring queued {queued:N0} requests for its last {signups:N0} signups");
    if (users < 10_000 || signups < 1_000)
    {
        // ./dev.sh test's run, so that nobody reads 8× against a target of 1.2× as a finding.
        Console.WriteLine($"At this size ({users:N0} users, {signups:N0} signups, {rounds} round{(rounds == 1 ? "" : "s")}) the ratios mean nothing: this run only checks that every path works. Measure with ./dev.sh bench (1,000,000 users, 3 rounds).");
    }

    Console.WriteLine();
    Console.WriteLine("| path | product | baseline (same run) | ratio | target |");
    Console.WriteLine("|---|---:|---|---:|---|");
    foreach (var row in rows)
    {
        Console.WriteLine(row.Markdown());
    }

    Console.WriteLine();
    if (hookFunctionMicros.Count > 0)
    {
        // The bare hook is a SQL function PostgreSQL inlines: it has no time of its own to set beside this.
        Console.WriteLine($"The token hook's own database time inside the 1-client refreshes (pg_stat_user_functions): {hookFunctionMicros.Order().ElementAt(hookFunctionMicros.Count / 2):N0} µs a token (median of {hookFunctionMicros.Count} runs; {hookFunctionMicros.Min():N0}–{hookFunctionMicros.Max():N0}); target ≤ 100 µs");
    }

    Console.WriteLine($"Peak working set of the benchmark process (replay engine and all): {Process.GetCurrentProcess().PeakWorkingSet64 / 1024 / 1024:N0} MB");
}
catch (Exception) when (Volatile.Read(ref interrupted) == 1)
{
    Thread.Sleep(Timeout.Infinite); // StopEverything exits
}
finally
{
    if (Volatile.Read(ref interrupted) == 0)
    {
        await Cluster("stop", directory, "--remove");
    }
}

return 0;

async Task MeasureAsync(string name, string baselineName, string target, Func<Task<double>> product, Func<Task<double>> baseline, string unit = " s")
{
    if (!Wanted(name))
    {
        return;
    }

    var results = new List<(double Product, double Baseline)>();
    for (var round = 1; round <= rounds; round++)
    {
        // Product first in odd rounds, baseline first in even ones: what drifts during a run (growing tables,
        // checkpoints, autovacuum) weighs on both alike.
        double p, b;
        if (round % 2 == 1)
        {
            p = await product();
            b = await baseline();
        }
        else
        {
            b = await baseline();
            p = await product();
        }

        results.Add((p, b));
        Console.WriteLine($"  {name}: round {round}: {p:N2}{unit} against {b:N2}{unit}");
    }

    rows.Add(Row.From(name, baselineName, target, results, unit));
}

static async Task ResetAsync(NpgsqlDataSource admin) => await Execute(admin, "truncate public.user_profiles; checkpoint");

static async Task DeleteProfilesAsync(NpgsqlDataSource admin, List<Guid> ids)
{
    await using (var command = admin.CreateCommand("delete from public.user_profiles where user_id = any($1)"))
    {
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. ids] });
        await command.ExecuteNonQueryAsync();
    }

    await Execute(admin, "checkpoint");
}

static double Seconds(Stopwatch clock) => clock.Elapsed.TotalSeconds;

static async Task Execute(NpgsqlDataSource source, string sql)
{
    await using var command = source.CreateCommand(sql);
    await command.ExecuteNonQueryAsync();
}

static async Task<T> Scalar<T>(NpgsqlDataSource source, string sql)
{
    await using var command = source.CreateCommand(sql);
    return (T)(await command.ExecuteScalarAsync())!;
}

static void Check(bool condition, string what)
{
    if (!condition)
    {
        throw new InvalidOperationException("benchmark check failed: " + what);
    }
}

async Task Cluster(params string[] arguments)
{
    var start = new ProcessStartInfo("bash") { WorkingDirectory = root };
    start.ArgumentList.Add(Path.Combine(root, "supabase", "local", "cluster.sh"));
    foreach (var argument in arguments)
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    await process.WaitForExitAsync();
    Check(process.ExitCode == 0, "cluster.sh " + arguments[0]);
}

static async Task RunCliAsync(string connectionString, params string[] arguments)
{
    var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
    start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"));
    foreach (var argument in arguments)
    {
        start.ArgumentList.Add(argument);
    }

    start.Environment["ProfileSync__ConnectionString"] = connectionString;
    using var process = Process.Start(start)!;
    await process.StandardOutput.ReadToEndAsync();
    await process.WaitForExitAsync();
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

// A refresh token as Supabase Auth makes one (crypto.SecureAlphanumeric(12)).
static string RandomToken() => System.Security.Cryptography.RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 12);

static string FindRoot()
{
    for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
    {
        if (File.Exists(Path.Combine(directory.FullName, "ProfileFunctions.sln")))
        {
            return directory.FullName;
        }
    }

    throw new InvalidOperationException("ProfileFunctions.sln not found");
}

/// <summary>One line of the table: the product's and the baseline's figure per round, and their ratio.</summary>
internal sealed record Row(string Name, string Product, string Baseline, string Ratio, string Target)
{
    public static Row From(string name, string baselineName, string target, List<(double Product, double Baseline)> rounds, string unit)
    {
        var ratios = rounds.Select(r => r.Product / r.Baseline).Order().ToList();
        var product = Median(rounds.Select(r => r.Product));
        var baseline = Median(rounds.Select(r => r.Baseline));
        var format = unit == " s" ? "N2" : "N0";
        return new Row(name, $"{product.ToString(format, CultureInfo.InvariantCulture)}{unit}",
            $"{baselineName}: {baseline.ToString(format, CultureInfo.InvariantCulture)}{unit}",
            $"{Median(ratios):N2}× ({ratios[0]:N2}–{ratios[^1]:N2})", target);
    }

    public static Row FromLatencies(string name, string baselineName, string target, List<Latencies> product, List<Latencies> baseline)
    {
        var ratios = product.Zip(baseline, (p, b) => p.PerSecond / b.PerSecond).Order().ToList();
        static string Describe(List<Latencies> runs) =>
            $"{Median(runs.Select(r => r.PerSecond)):N0}/s, p50 {Median(runs.Select(r => r.P50)):N1} ms, p99 {Median(runs.Select(r => r.P99)):N1} ms";
        return new Row(name, Describe(product), $"{baselineName}: {Describe(baseline)}", $"{Median(ratios):N2}× ({ratios[0]:N2}–{ratios[^1]:N2})", target);
    }

    public string Markdown() => $"| {Name} | {Product} | {Baseline} | {Ratio} | {Target} |";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

/// <summary>Throughput and latency of one operation per id, run by a number of concurrent workers.</summary>
internal sealed record Latencies(double PerSecond, double P50, double P99)
{
    public static async Task<Latencies> MeasureAsync(List<Guid> ids, int workers, Func<Guid, CancellationToken, Task> operation)
    {
        var latencies = new double[ids.Count];
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Count), new ParallelOptions { MaxDegreeOfParallelism = workers }, async (i, token) =>
        {
            var one = Stopwatch.GetTimestamp();
            await operation(ids[i], token);
            latencies[i] = Stopwatch.GetElapsedTime(one).TotalMilliseconds;
        });
        var total = clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        return new Latencies(ids.Count / total, latencies[latencies.Length / 2], latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * 0.99))]);
    }
}

/// <summary><c>profilesync serve</c> as its own process, as the function app runs apart from the database.</summary>
internal sealed class Serve : IAsyncDisposable
{
    private const string Secret = "v1,whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";
    private static readonly byte[] Key = Convert.FromBase64String(Secret["v1,whsec_".Length..]);
    private readonly Process _process;

    /// <summary>Every serve process started, for an interrupted run to stop.</summary>
    public static System.Collections.Concurrent.ConcurrentBag<Process> Started { get; } = [];

    private Serve(Process process, Uri baseAddress, double firstOkMilliseconds)
    {
        _process = process;
        BaseAddress = baseAddress;
        FirstOkMilliseconds = firstOkMilliseconds;
    }

    public Uri BaseAddress { get; }

    public double FirstOkMilliseconds { get; }

    public static async Task<Serve> StartAsync(string cli, string connectionString)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        listener.Stop();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { cli, "serve", "--urls", url })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ProfileSync__ConnectionString"] = connectionString;
        start.Environment["ProfileSync__WebhookSecret"] = Secret;
        start.Environment["Logging__LogLevel__Default"] = "Warning"; // as a tuned deployment would; Information costs a line per event
        var clock = Stopwatch.StartNew();
        var process = Process.Start(start)!;
        Started.Add(process);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(url + "/api/health"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return new Serve(process, new Uri(url), clock.Elapsed.TotalMilliseconds);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet, or too busy starting to answer within the probe's timeout
            }

            if (process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                throw new InvalidOperationException("profilesync serve did not answer /api/health");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>A Database Webhook INSERT for the user, signed as Supabase signs it.</summary>
    public static HttpRequestMessage SignedInsert(Guid id)
    {
        var body = $$"""{"type":"INSERT","table":"users","schema":"auth","record":{"id":"{{id}}"},"old_record":null}""";
        var messageId = "msg_" + Guid.NewGuid().ToString("N");
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth-events") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("webhook-id", messageId);
        request.Headers.Add("webhook-timestamp", timestamp);
        request.Headers.Add("webhook-signature", "v1," + Convert.ToBase64String(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes($"{messageId}.{timestamp}.{body}"))));
        return request;
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
