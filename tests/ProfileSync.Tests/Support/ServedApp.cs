using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using ProfileSync.Cli;

namespace ProfileSync.Tests.Support;

/// <summary><c>profilesync serve</c> on a free loopback port, reached over real HTTP.</summary>
public sealed class ServedApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private PgBouncer? _pooler;

    private ServedApp(WebApplication app, Uri baseAddress)
    {
        _app = app;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Client.DefaultRequestHeaders.Add("x-functions-key", SupabaseEvents.AdminKey);
    }

    public HttpClient Client { get; }

    public Uri AuthEvents => new(Client.BaseAddress!, "/api/auth-events");

    /// <param name="logs">where serve's log lines go, at every level (none are kept without it)</param>
    public static async Task<ServedApp> StartAsync(string connectionString, IReadOnlyDictionary<string, string?>? extraSettings = null,
        CapturedLogs? logs = null)
    {
        var settings = new Dictionary<string, string?>(SupabaseEvents.Settings);
        foreach (var (key, value) in extraSettings ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var url = $"http://127.0.0.1:{Loopback.FreePort()}";
        var app = ServeCommand.Build(url, connectionString, settings, logging =>
        {
            logging.ClearProviders();
            if (logs is not null)
            {
                logging.SetMinimumLevel(LogLevel.Trace).AddProvider(logs);
            }
        });
        await app.StartAsync();
        return new ServedApp(app, new Uri(url));
    }

    /// <summary>Serves a test database, directly or through its own pgbouncer in transaction mode (stopped with the app).</summary>
    public static async Task<ServedApp> StartAsync(TestDatabase db, bool throughPooler, CapturedLogs? logs = null,
        IReadOnlyDictionary<string, string?>? extraSettings = null)
    {
        ArgumentNullException.ThrowIfNull(db);
        var pooler = throughPooler ? await PgBouncer.StartAsync(db.Cluster.Port) : null;
        var served = await StartAsync(pooler?.ConnectionString(db.Name) ?? db.ConnectionString(), extraSettings, logs);
        served._pooler = pooler;
        return served;
    }

    /// <summary>Posts a body signed as Supabase signs it; returns the status and the outcome (if any).</summary>
    public Task<(HttpStatusCode Status, string? Outcome)> SendAsync(string body, string secret = SupabaseEvents.Secret) =>
        SendAsync(System.Text.Encoding.UTF8.GetBytes(body), secret);

    public async Task<(HttpStatusCode Status, string? Outcome)> SendAsync(byte[] body, string secret = SupabaseEvents.Secret)
    {
        using var request = StandardWebhooks.SignedRequest(AuthEvents, body, secret);
        using var response = await Client.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (response.StatusCode, null);
        }

        var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (response.StatusCode, answer.GetProperty("outcome").GetString());
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_pooler is not null)
        {
            await _pooler.DisposeAsync();
        }
    }
}
