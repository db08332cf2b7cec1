using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace ProfileSync.Tests.Support;

/// <summary>
/// <c>profilesync serve</c> as its own process (the CLI built beside the tests), so it can be killed as a crash or a
/// deploy would kill it. Its console lines are kept as <see cref="LogLine"/>s.
/// </summary>
public sealed partial class ServeProcess : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private Process? _process;

    /// <param name="environment">more environment variables for the process (OTEL_*, …)</param>
    public ServeProcess(string connectionString, IReadOnlyDictionary<string, string>? environment = null)
    {
        _connectionString = connectionString;
        _environment = environment ?? new Dictionary<string, string>();
        BaseAddress = new Uri($"http://127.0.0.1:{TestServices.FreePort()}");
    }

    public Uri BaseAddress { get; }

    public ConcurrentQueue<LogLine> Lines { get; } = new();

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"), "serve", "--urls", BaseAddress.ToString().TrimEnd('/') })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ProfileSync__ConnectionString"] = _connectionString;
        foreach (var (key, value) in SupabaseEvents.Settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        start.Environment["Logging__LogLevel__Default"] = "Information";
        foreach (var (key, value) in _environment)
        {
            start.Environment[key] = value;
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start profilesync serve");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.HoldsAsync(async () =>
        {
            Assert.False(_process.HasExited, "profilesync serve exited: " + string.Join('\n', Lines));
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(BaseAddress.Host, BaseAddress.Port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        });
    }

    /// <summary>SIGKILL: no shutdown, requests in flight are cut.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    public ValueTask DisposeAsync() => new(KillAsync());

    // The simple console formatter, one line per entry: "2026-11-24T23:59:59.999Z info: Category[0] message".
    [GeneratedRegex(@"^(?:\S+ )?(trce|dbug|info|warn|fail|crit): ([^\[\s]+)\[\d+\] ?(.*)$")]
    private static partial Regex ConsoleLine();

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        var match = ConsoleLine().Match(line);
        Lines.Enqueue(match.Success
            ? new LogLine(Level(match.Groups[1].Value), match.Groups[2].Value, match.Groups[3].Value)
            : new LogLine(LogLevel.None, "(raw output)", line));
    }

    private static LogLevel Level(string text) => text switch
    {
        "trce" => LogLevel.Trace,
        "dbug" => LogLevel.Debug,
        "info" => LogLevel.Information,
        "warn" => LogLevel.Warning,
        "fail" => LogLevel.Error,
        _ => LogLevel.Critical,
    };
}
