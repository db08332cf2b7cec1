using System.Net;
using PgNetWorker;

namespace ProfileSync.Tests.Support;

/// <summary>A database of its own with the fallback trigger off, so what creates a profile is the webhook path under test.</summary>
public abstract class WebhookPathTest(PostgresCluster cluster) : IAsyncLifetime
{
    protected PostgresCluster Cluster { get; } = cluster;

    protected TestDatabase Db { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Db = await Cluster.CreateDatabaseAsync();
        await Db.ExecuteAsync("update profile_sync.settings set fallback_trigger_enabled = false");
    }

    /// <summary>Sends what is queued with the dispatcher (as pg_net would) and returns the statuses recorded, in order.</summary>
    protected async Task<List<HttpStatusCode>> DeliverQueuedAsync()
    {
        using var http = new HttpClient();
        await new QueueDispatcher(Db.As(), http).DrainAsync();
        var statuses = new List<HttpStatusCode>();
        await using var command = Db.As().CreateCommand("select status_code from net._http_response order by id");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            statuses.Add((HttpStatusCode)reader.GetInt32(0));
        }

        return statuses;
    }

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
