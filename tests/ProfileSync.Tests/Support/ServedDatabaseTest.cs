namespace ProfileSync.Tests.Support;

/// <summary>A database of its own, as migrated (the fallback trigger on), served by <c>profilesync serve</c> over HTTP.</summary>
public abstract class ServedDatabaseTest(PostgresCluster cluster) : DatabaseTest(cluster)
{
    protected ServedApp Served { get; private set; } = null!;

    protected override async Task PrepareAsync() => Served = await ServedApp.StartAsync(Db.ConnectionString());

    protected override ValueTask CleanUpAsync() => Served.DisposeAsync();
}
