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
