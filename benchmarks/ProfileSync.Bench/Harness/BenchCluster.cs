using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ProfileSync.TestKit;

namespace ProfileSync.Bench.Harness;

/// <summary>
/// The bench's own Supabase-shaped PostgreSQL (<c>supabase/local/cluster.sh</c>, durable settings) in a temporary
/// directory on a free port: stopped and removed at the end, or when the run is interrupted.
/// </summary>
internal sealed class BenchCluster
{
    private int _interrupted;

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "profilesync-bench-" + Guid.NewGuid().ToString("N")[..8]);

    public int Port { get; } = Loopback.FreePort();

    /// <summary>As the product connects: nothing but a connection string.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Database=postgres;Username=postgres;Password=postgres";

    /// <summary>Ctrl+C or a <c>timeout</c> came: the run may fail meanwhile (its database is going away).</summary>
    public bool Interrupted => Volatile.Read(ref _interrupted) == 1;

    public Task StartAsync() => ClusterAsync("start", Directory, Port.ToString(CultureInfo.InvariantCulture));

    public Task StopAsync() => ClusterAsync("stop", Directory, "--remove");

    /// <summary>
    /// Until disposed, SIGINT and SIGTERM stop the database and the serve processes started here, remove the data,
    /// then exit (130 or 143).
    /// </summary>
    public IDisposable StopOnInterrupt() => new Registrations(
        PosixSignalRegistration.Create(PosixSignal.SIGINT, StopEverything),
        PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopEverything));

    private void StopEverything(PosixSignalContext signal)
    {
        signal.Cancel = true;
        if (Interlocked.Exchange(ref _interrupted, 1) == 1)
        {
            return;
        }

        foreach (var serve in Serve.Started)
        {
            serve.Kill();
        }

        try
        {
            StopAsync().GetAwaiter().GetResult();
            Console.Error.WriteLine($"bench: interrupted; stopped its PostgreSQL and removed {Directory}");
        }
        catch (InvalidOperationException)
        {
            Console.Error.WriteLine($"bench: interrupted; could not stop its PostgreSQL: run bash supabase/local/cluster.sh stop {Directory} --remove");
        }

        Environment.Exit(signal.Signal == PosixSignal.SIGINT ? 130 : 143);
    }

    private static async Task ClusterAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { WorkingDirectory = Repository.Root };
        start.ArgumentList.Add(Path.Combine(Repository.Root, "supabase", "local", "cluster.sh"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        await process.WaitForExitAsync();
        Measure.Check(process.ExitCode == 0, "cluster.sh " + arguments[0]);
    }

    private sealed class Registrations(params PosixSignalRegistration[] registrations) : IDisposable
    {
        public void Dispose()
        {
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
        }
    }
}
