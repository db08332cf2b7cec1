using System.Net;
using PgNetWorker;

namespace ProfileSync.Tests.Support;

/// <summary>A database of its own with the fallback trigger off, so what creates a profile is the webhook path under test.</summary>
public abstract class WebhookPathTest(PostgresCluster cluster) : DatabaseTest(cluster)
{
    protected override Task PrepareAsync() => Db.SetFallbackTriggerAsync(enabled: false);

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
}
