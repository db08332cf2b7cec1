using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;
using ProfileSync.Http;

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
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await using var command = dataSource.CreateCommand("select 1");
            await command.ExecuteScalarAsync(timeout.Token);
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogUnreachable(logger, e.GetType().Name, e);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Health check could not reach the database ({ErrorType})")]
    private static partial void LogUnreachable(ILogger logger, string errorType, Exception exception);
}

public sealed record HealthReport(string Status);
