using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Timeout;
using ProfileSync.Http;
using ProfileSync.Resilience;

namespace ProfileSync.Health;

/// <summary><c>GET /api/health</c>: 200 when the database answers, 503 when not; no details either way.</summary>
public sealed partial class HealthHandler(NpgsqlDataSource dataSource, ILogger<HealthHandler> logger)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var healthy = await IsDatabaseReachableAsync(context.RequestAborted);
        context.Response.Headers.CacheControl = "no-store";
        await JsonResponses.WriteAsync(
            context,
            healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable,
            new HealthReport(healthy ? "healthy" : "unhealthy"));
    }

    public async Task<bool> IsDatabaseReachableAsync(CancellationToken cancellationToken)
    {
        try
        {
            // One attempt, no retries: the probe says how the database is now.
            return await ResiliencePipeline.Empty.ExecuteWithinDeadlineAsync(
                Timeout,
                static async (source, token) =>
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(Timeout);
                    await using var command = source.CreateCommand("select 1");
                    await command.ExecuteScalarAsync(timeout.Token);
                    return true;
                },
                dataSource,
                cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or TimeoutRejectedException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogUnreachable(logger, DatabaseResilience.Describe(e));
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Health check could not reach the database ({Failure})")]
    private static partial void LogUnreachable(ILogger logger, string failure);
}

public sealed record HealthReport(string Status);
