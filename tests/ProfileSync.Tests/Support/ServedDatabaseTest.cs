namespace ProfileSync.Tests.Support;

/// <summary>A database of its own, as migrated (the fallback trigger on), served by <c>profilesync serve</c> over HTTP.</summary>
public abstract class ServedDatabaseTest(PostgresCluster cluster) : IAsyncLifetime
{
    protected TestDatabase Db { get; private set; } = null!;

    protected ServedApp Served { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Db = await cluster.CreateDatabaseAsync();
        Served = await ServedApp.StartAsync(Db.ConnectionString());
    }

    public async ValueTask DisposeAsync()
    {
        await Served.DisposeAsync();
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
