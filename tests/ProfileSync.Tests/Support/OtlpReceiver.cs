using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ProfileSync.Tests.Support;

/// <summary>
/// A small OTLP/HTTP receiver (<c>POST /v1/metrics</c>, <c>/v1/traces</c>, …): keeps each signal's bodies, appended,
/// as bytes read as UTF-8, so names and attribute values in the protobuf can be looked for as text.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, string> _received = new();
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>What OTEL_EXPORTER_OTLP_ENDPOINT is set to.</summary>
    public Uri Endpoint { get; }

    public static async Task<OtlpReceiver> StartAsync()
    {
        var endpoint = new Uri($"http://127.0.0.1:{Loopback.FreePort()}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(endpoint.ToString());
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, endpoint);
        app.MapPost("/v1/{signal}", async (string signal, HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var text = System.Text.Encoding.UTF8.GetString(body.ToArray());
            receiver._received.AddOrUpdate(signal, text, (_, before) => before + text);
            return Results.Ok();
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Everything received for a signal ("metrics", "traces"), or "".</summary>
    public string Received(string signal) => _received.GetValueOrDefault(signal, "");

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
