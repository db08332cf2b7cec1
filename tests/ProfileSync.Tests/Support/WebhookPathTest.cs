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

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
