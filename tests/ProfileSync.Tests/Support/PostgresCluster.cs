[assembly: AssemblyFixture(typeof(ProfileSync.Tests.Support.PostgresCluster))]

namespace ProfileSync.Tests.Support;

/// <summary>
/// One throwaway Supabase-shaped PostgreSQL cluster for the whole test run (a temp dir, a free port, removed at
/// the end), built by <c>supabase/local/cluster.sh</c>, the same script as the emulator's. Each test gets its
/// own database cloned from a template.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    /// <summary>Template with the Supabase stand-in only (roles, extensions, auth).</summary>
    public const string StandInTemplate = "supabase_base";

    /// <summary>Template with the stand-in and every migration applied.</summary>
    public const string MigratedTemplate = "supabase_migrated";

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "profilesync-tests-" + Guid.NewGuid().ToString("N")[..12]);

    public int Port { get; } = Loopback.FreePort();

    /// <summary>The server's log, where PostgreSQL writes every error that reaches a client (and its detail).</summary>
    public string ServerLog => Path.Combine(_directory, "server.log");

    public async ValueTask InitializeAsync() =>
        await RunScriptAsync("start", _directory, Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--fast");

    public async ValueTask DisposeAsync() => await RunScriptAsync("stop", _directory, "--remove");

    public string ConnectionString(string database, string user = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Database={database};Username={user};Password=postgres;Timeout=10";

    public async Task<TestDatabase> CreateDatabaseAsync(string template = MigratedTemplate)
    {
        var name = "test_" + Guid.NewGuid().ToString("N")[..16];
        await RunScriptAsync("createdb", PortText, name, template);
        return new TestDatabase(this, name);
    }

    /// <summary>
    /// The cluster's <c>postgres</c> database (stand-in, migrations, and pg_cron, which runs jobs only there), shared by
    /// the whole run and never dropped: what a test leaves in it, another finds.
    /// </summary>
    public TestDatabase MainDatabase() => new(this, "postgres", dropWhenDisposed: false);

    /// <summary>Stops the server (data kept), as an outage would.</summary>
    public Task StopServerAsync() => RunScriptAsync("pause", _directory);

    public Task StartServerAsync() => RunScriptAsync("resume", _directory);

    /// <summary>Stops the server fast (open connections are ended) and starts it again.</summary>
    public Task RestartServerAsync() => RunScriptAsync("restart", _directory);

    /// <summary>Makes the server hang, connections open and nothing answering, as a stalled host or network would.</summary>
    public Task FreezeServerAsync() => RunScriptAsync("freeze", _directory);

    public Task ThawServerAsync() => RunScriptAsync("thaw", _directory);

    /// <summary>Applies <c>supabase/migrations</c> with psql, as the given role (default: postgres, not a superuser).</summary>
    public Task MigrateAsync(string database, string user = "postgres") => RunScriptAsync("migrate", PortText, database, user);

    private string PortText => Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static async Task RunScriptAsync(params string[] arguments)
    {
        var result = await ExternalProcess.RunAsync(
            "bash", [Path.Combine(Repository.Root, "supabase", "local", "cluster.sh"), .. arguments], timeout: TimeSpan.FromMinutes(10));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"cluster.sh {string.Join(' ', arguments)}: {result}");
        }
    }
}
