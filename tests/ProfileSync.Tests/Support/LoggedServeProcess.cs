using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace ProfileSync.Tests.Support;

/// <summary>
/// The kit's <c>profilesync serve</c> process with the test settings (<see cref="SupabaseEvents.Settings"/>), logging at
/// Information so that its console lines can be audited as <see cref="LogLine"/>s.
/// </summary>
public sealed partial class LoggedServeProcess : IAsyncDisposable
{
    private readonly TestKit.ServeProcess _serve;

    /// <param name="environment">more environment variables for the process (OTEL_*, …)</param>
    public LoggedServeProcess(string connectionString, IReadOnlyDictionary<string, string>? environment = null)
    {
        var variables = new Dictionary<string, string> { ["ProfileSync__ConnectionString"] = connectionString };
        foreach (var (key, value) in SupabaseEvents.Settings)
        {
            variables[key.Replace(":", "__", StringComparison.Ordinal)] = value!;
        }

        variables["Logging__LogLevel__Default"] = "Information";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            variables[key] = value;
        }

        _serve = new TestKit.ServeProcess(variables, Keep);
    }

    public Uri BaseAddress => _serve.BaseAddress;

    public ConcurrentQueue<LogLine> Lines { get; } = new();

    public async Task StartAsync()
    {
        try
        {
            await _serve.StartAsync();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(e.Message + ":\n" + string.Join('\n', Lines), e);
        }
    }

    /// <summary>SIGKILL: no shutdown, requests in flight are cut.</summary>
    public Task KillAsync() => _serve.KillAsync();

    public ValueTask DisposeAsync() => _serve.DisposeAsync();

    // The simple console formatter, one line per entry: "2026-11-24T23:59:59.999Z info: Category[0] message".
    [GeneratedRegex(@"^(?:\S+ )?(trce|dbug|info|warn|fail|crit): ([^\[\s]+)\[\d+\] ?(.*)$")]
    private static partial Regex ConsoleLine();

    private void Keep(string line)
    {
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
