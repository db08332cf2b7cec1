using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using ProfileSync.Http;

namespace ProfileSync.Health;

/// <summary>
/// <c>GET /api/health</c>: 200 when every registered health check (<see cref="DatabaseHealthCheck"/>) passes, 503
/// when not; no details either way. Written here rather than by ASP.NET Core's health check middleware, which the
/// Functions host does not run, so both hosts answer alike.
/// </summary>
public sealed class HealthHandler(HealthCheckService health)
{
    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // The health check service logs each failed check with its description.
        var report = await health.CheckHealthAsync(context.RequestAborted);
        var healthy = report.Status == HealthStatus.Healthy;
        context.Response.Headers.CacheControl = "no-store";
        await JsonResponses.WriteAsync(
            context,
            healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable,
            new HealthReport(healthy ? "healthy" : "unhealthy"));
    }
}

public sealed record HealthReport(string Status);

public static class HealthServiceCollectionExtensions
{
    /// <summary>The health checks (the database's) and the handler that answers them.</summary>
    public static IServiceCollection AddProfileSyncHealth(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>(DatabaseHealthCheck.Name);
        services.AddSingleton<HealthHandler>();
        return services;
    }
}
