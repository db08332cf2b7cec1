using System.Diagnostics;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace ProfileSync.Telemetry;

/// <summary>
/// Where spans and metrics go, chosen by the standard settings: Application Insights when
/// <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is set, OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (with
/// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>OTEL_SERVICE_NAME</c>, <c>OTEL_METRIC_EXPORT_INTERVAL</c>), both when both
/// are, nothing otherwise.
/// </summary>
public static class TelemetryExport
{
    public const string DefaultServiceName = "profilesync";

    /// <returns>the OpenTelemetry builder, to add a host's own parts to; null when nothing is exported</returns>
    public static OpenTelemetryBuilder? AddProfileSyncTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var azureMonitor = !string.IsNullOrWhiteSpace(configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"]);
        if (!otlp && !azureMonitor)
        {
            return null;
        }

        var serviceName = configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : DefaultServiceName;
        var builder = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithTracing(tracing => tracing
                .AddSource(ProfileSyncTelemetry.Name)
                // The HTTP request's span, parent of the event's; Npgsql's command spans under it. Npgsql records
                // the SQL text, never parameter values.
                .AddAspNetCoreInstrumentation(http =>
                {
                    http.RecordException = false;
                    http.EnrichWithHttpResponse = KeepOnlyWhatTheServerDecides;
                })
                .AddNpgsql())
            .WithMetrics(metrics => metrics.AddMeter(ProfileSyncTelemetry.Name));
        if (otlp)
        {
            builder.UseOtlpExporter();
        }

        if (azureMonitor)
        {
            builder.UseAzureMonitorExporter();
        }

        return builder;
    }

    /// <summary>
    /// A span keeps nothing a caller wrote but what the HTTP conventions require: no user agent, query or Host, and
    /// the path only when it is one of the product's routes (so an e-mail planted in any of them never leaves).
    /// </summary>
    private static void KeepOnlyWhatTheServerDecides(Activity activity, HttpResponse response)
    {
        activity.SetTag("user_agent.original", null);
        activity.SetTag("url.query", null);
        activity.SetTag("server.address", null);
        if (response.HttpContext.GetEndpoint() is null)
        {
            activity.SetTag("url.path", "(not a route)");
        }
    }
}
