using System.Diagnostics;
using System.Net.Sockets;

namespace ProfileSync.Tests.Support;

/// <summary>A real pgbouncer in transaction mode (as Supabase's Supavisor on 6543) in front of the test cluster.</summary>
public sealed class PgBouncer : IAsyncDisposable
{
    private readonly string _directory;
    private readonly Process _process;

    private PgBouncer(string directory, Process process, int port)
    {
        _directory = directory;
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The connection-string advice of docs/configuration.md ("Connection strings and pools") for transaction-mode poolers.</summary>
    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Database={database};Username=postgres;Password=postgres;No Reset On Close=true;Max Auto Prepare=0;Timeout=10";

    public static async Task<PgBouncer> StartAsync(int postgresPort)
    {
        var directory = Directory.CreateTempSubdirectory("profilesync-pgbouncer-").FullName;
        var port = Loopback.FreePort();
        await File.WriteAllTextAsync(Path.Combine(directory, "userlist.txt"), "\"postgres\" \"postgres\"\n");
        await File.WriteAllTextAsync(Path.Combine(directory, "pgbouncer.ini"), $"""
            [databases]
            * = host=127.0.0.1 port={postgresPort}

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = scram-sha-256
            auth_file = {directory}/userlist.txt
            pool_mode = transaction
            max_client_conn = 1000
            default_pool_size = 20
            ignore_startup_parameters = extra_float_digits,options
            logfile = {directory}/pgbouncer.log
            ; after a failed server login pgbouncer refuses clients this long (default 15 s): short, so outage tests end soon
            server_login_retry = 1
            """);
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            await Process.Start("chown", ["-R", "postgres:", directory]).WaitForExitAsync();
        }

        var start = new ProcessStartInfo(asRoot ? "runuser" : "pgbouncer") { RedirectStandardError = true, RedirectStandardOutput = true };
        // -q: its log goes to the log file only. On stderr, unread, it would fill the pipe and pgbouncer would hang.
        foreach (var argument in asRoot ? ["-u", "postgres", "--", "pgbouncer", "-q", $"{directory}/pgbouncer.ini"] : new[] { "-q", $"{directory}/pgbouncer.ini" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start pgbouncer");
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return new PgBouncer(directory, process, port);
            }
            catch (SocketException) when (!process.HasExited)
            {
                await Task.Delay(50);
            }
        }

        throw new InvalidOperationException("pgbouncer did not start: " + await process.StandardError.ReadToEndAsync()
                                            + await File.ReadAllTextAsync(Path.Combine(directory, "pgbouncer.log")));
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
