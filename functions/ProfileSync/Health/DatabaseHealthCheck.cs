using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Polly;
using Polly.Timeout;
using ProfileSync.Resilience;

namespace ProfileSync.Health;

/// <summary>
/// The database answers <c>select 1</c> within 3 s. One attempt, no retries: the probe says how the database is now.
/// Its description on failure is <see cref="DatabaseResilience.Describe"/>'s, never PostgreSQL's message.
/// </summary>
public sealed class DatabaseHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public const string Name = "database";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            // Waits no longer than the timeout even when a cancelled query to a hanging server does not return.
            return await ResiliencePipeline.Empty.ExecuteWithinDeadlineAsync(
                Timeout,
                static async (source, token) =>
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(Timeout);
                    await using var command = source.CreateCommand("select 1");
                    await command.ExecuteScalarAsync(timeout.Token);
                    return HealthCheckResult.Healthy();
                },
                dataSource,
                cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or TimeoutRejectedException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return HealthCheckResult.Unhealthy($"the database is unreachable ({DatabaseResilience.Describe(e)})");
        }
    }
}
