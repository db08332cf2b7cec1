using System.Diagnostics;
using Npgsql;
using ProfileSync.Bench.Harness;
using static ProfileSync.Bench.Harness.Measure;
using static ProfileSync.Bench.Harness.Sql;

namespace ProfileSync.Bench.Scenarios;

/// <summary>
/// Signups as Supabase Auth writes them (INSERT, then role, app and user metadata, confirmation token, in one
/// transaction), 16 at a time, with and without the product's triggers on auth.users: the fallback trigger, with
/// 10 and 1,000 attribute rules, the signed wiring, and the wiring against a dashboard Database Webhook.
/// </summary>
internal static class SignupScenarios
{
    // The product's triggers on auth.users: the fallback converges, and the wiring posts once configured.
    private const string ProductTriggers = "alter table auth.users enable trigger user";

    // What a user would otherwise wire: a dashboard Database Webhook on auth.users (inserts, updates and deletes), as
    // the dashboard makes one: a trigger calling supabase_functions.http_request(), which posts the old and new rows
    // whole through pg_net and records each request in supabase_functions.hooks. Written here after Supabase's own.
    private const string DashboardWebhookFunction = """
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
        """;

    private const string DashboardWebhook = """
        create trigger dashboard_webhook after insert or update or delete on auth.users for each row
        execute function supabase_functions.http_request('http://127.0.0.1:1/hook', 'POST', '{"Content-Type":"application/json"}', '{}', '5000')
        """;

    private static readonly (string Sql, Func<string, int, string> Value)[] SignupStatements =
    [
        ("insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at) values ('00000000-0000-0000-0000-000000000000', $1, '', '', $2, '{}', '{}', now(), now())",
            (prefix, i) => $"{prefix}{i}@example.com"),
        ("update auth.users set role = $2, aud = $2, updated_at = now() where id = $1", (_, _) => "authenticated"),
        ("update auth.users set raw_app_meta_data = $2::jsonb, updated_at = now() where id = $1", (_, _) => """{"provider":"email","providers":["email"]}"""),
        ("update auth.users set raw_user_meta_data = $2::jsonb, updated_at = now() where id = $1", (_, i) => $$"""{"full_name":"Signup {{i}}","email_verified":false}"""),
        ("update auth.users set confirmation_token = $2, confirmation_sent_at = now(), updated_at = now() where id = $1", (prefix, i) => $"tok-{prefix}{i}"),
    ];

    public static async Task RunAsync(BenchContext bench)
    {
        var (admin, signups) = (bench.Admin, bench.Options.Signups);
        var signupRound = 0;
        async Task<double> SignupsPerSecondAsync(string setup, bool wired, bool fallback = true)
        {
            await Execute(admin, $"alter table auth.users disable trigger user; {setup}");
            await Execute(admin, wired
                ? ConfigureWiring
                : "delete from vault.secrets");
            await Execute(admin, $"update profile_sync.settings set fallback_trigger_enabled = {fallback}; truncate net.http_request_queue; checkpoint");
            var prefix = $"s{++signupRound}-";
            // Prepared statements, one round trip each, parameters bound, as Supabase Auth (pop over pgx) sends them.
            await using var authPrepared = bench.AuthPool();
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
                bench.Report.WiringQueued = await Scalar<long>(admin, "select count(*) from net.http_request_queue");
            }

            await Execute(admin, "alter table auth.users enable trigger user; update profile_sync.settings set fallback_trigger_enabled = false; delete from vault.secrets; delete from profile_sync.attribute_rules");
            return rate;
        }

        await bench.MeasureAsync("signups with the fallback trigger", "signups with no trigger", "≥ 0.70×",
            product: () => SignupsPerSecondAsync(ProductTriggers, wired: false),
            baseline: () => SignupsPerSecondAsync("", wired: false),
            unit: "/s");
        foreach (var (rules, target) in new[] { (10, "≥ 0.95×"), (1_000, "≥ 0.8×") })
        {
            await bench.MeasureAsync($"signups with the fallback trigger and {rules:N0} attribute rules", "the same with no rule", target,
                product: async () =>
                {
                    var rate = await SignupsPerSecondAsync(ProductTriggers + ";" + InsertAttributeRules(rules), wired: false);
                    Check(await Scalar<long>(admin, $"select count(*) from public.user_profiles where email like 's{signupRound}-%' and attributes @> '{{\"level1\":true,\"level2\":true}}'") == signups,
                        "every signup got the matching rules' attributes");
                    return rate;
                },
                baseline: () => SignupsPerSecondAsync(ProductTriggers, wired: false),
                unit: "/s");
        }

        await bench.MeasureAsync("signups with the signed wiring configured", "the same without it", "≥ 0.8×",
            // The wiring alone: the product's triggers with the fallback switched off.
            product: () => SignupsPerSecondAsync(ProductTriggers, wired: true, fallback: false),
            baseline: () => SignupsPerSecondAsync("", wired: false),
            unit: "/s");

        await Execute(admin, DashboardWebhookFunction);
        await bench.MeasureAsync("signups with the signed wiring configured, against a dashboard webhook", "the same with a dashboard Database Webhook on auth.users instead", "≥ 1×",
            product: () => SignupsPerSecondAsync(ProductTriggers, wired: true, fallback: false),
            baseline: async () =>
            {
                var rate = await SignupsPerSecondAsync(DashboardWebhook, wired: false);
                await Execute(admin, "drop trigger dashboard_webhook on auth.users");
                return rate;
            },
            unit: "/s");
    }
}
