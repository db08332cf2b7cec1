using Npgsql;
using ProfileSync.TestKit;

namespace ProfileSync.Bench.Harness;

/// <summary>The bench's own statements (seeding, baselines, resets): they wait as long as they take.</summary>
internal static class Sql
{
    /// <summary>
    /// Configures the product's signed wiring (its Vault secrets), pointed at a port where nothing listens: what it
    /// costs is queuing the request, not delivering it.
    /// </summary>
    public const string ConfigureWiring =
        $"select vault.create_secret('http://127.0.0.1:1/api/auth-events', 'profile_sync_function_url'); select vault.create_secret('{StandardWebhooks.TestSecret}', 'profile_sync_webhook_secret')";

    /// <summary>
    /// Attribute rules of every kind, a quarter each, as a team might keep: the first provider rule (email) and the first
    /// app metadata one ({"provider":"email"}) match every seeded user and signup; the others name domains of teams whose
    /// addresses wait for a proof, other identity providers, plans, and a company directory's groups at its SAML
    /// provider (users without an identity there).
    /// </summary>
    public static string InsertAttributeRules(int count) => $$"""
        insert into profile_sync.attribute_rules (position, email_domain, provider, app_metadata, identity_data, attributes)
        select n, case when n % 4 = 0 then 'team' || n || '.example.com' end,
               case when n % 4 = 1 then case when n = 1 then 'email' else 'sso:' || gen_random_uuid() end
                    when n % 4 = 3 then 'sso:00000000-0000-4000-8000-00000000d1e5' end,
               case when n % 4 = 2 then case when n = 2 then '{"provider":"email"}'::jsonb else jsonb_build_object('plan', 'plan' || n) end end,
               case when n % 4 = 3 then jsonb_build_object('custom_claims', jsonb_build_object('groups', jsonb_build_array('Group ' || n))) end,
               jsonb_build_object('department', 'Department ' || n, 'level' || n, true)
        from generate_series(1, {{count}}) n;
        """;

    public static async Task Execute(NpgsqlDataSource source, string sql)
    {
        await using var command = source.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task<T> Scalar<T>(NpgsqlDataSource source, string sql)
    {
        await using var command = source.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Every profile gone, and a checkpoint so that the next round starts from the same disk state.</summary>
    public static async Task ResetAsync(NpgsqlDataSource admin) => await Execute(admin, "truncate public.user_profiles; checkpoint");

    public static async Task DeleteProfilesAsync(NpgsqlDataSource admin, List<Guid> ids)
    {
        await using (var command = admin.CreateCommand("delete from public.user_profiles where user_id = any($1)"))
        {
            command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. ids] });
            await command.ExecuteNonQueryAsync();
        }

        await Execute(admin, "checkpoint");
    }
}
