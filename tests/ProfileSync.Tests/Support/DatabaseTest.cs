namespace ProfileSync.Tests.Support;

/// <summary>
/// A database of its own for each test: a clone of the cluster's migrated template, dropped afterwards. The one setup
/// every database test shares; a class says what else it needs by overriding <see cref="PrepareAsync"/>.
/// </summary>
public abstract class DatabaseTest(PostgresCluster cluster) : IAsyncLifetime
{
    protected PostgresCluster Cluster { get; } = cluster;

    protected TestDatabase Db { get; private set; } = null!;

    /// <summary>What the test needs in its database beyond the migrations (data, settings, a served app).</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    /// <summary>What <see cref="PrepareAsync"/> started, stopped before the database goes.</summary>
    protected virtual ValueTask CleanUpAsync() => ValueTask.CompletedTask;

    public async ValueTask InitializeAsync()
    {
        Db = await Cluster.CreateDatabaseAsync();
        await PrepareAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await CleanUpAsync();
        await Db.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
