using System.Diagnostics;
using System.Net;

namespace ProfileSync.TestKit;

/// <summary>
/// <c>profilesync serve</c> as its own process (the CLI built beside the caller), as the function app runs apart from
/// the database and as a crash or a deploy would kill it. Its port is chosen once, so a restart serves the same address.
/// </summary>
/// <param name="environment">its settings, as environment variables (<c>ProfileSync__ConnectionString</c>, …)</param>
/// <param name="onLine">where each line it writes goes (nowhere without it)</param>
public sealed class ServeProcess(IReadOnlyDictionary<string, string> environment, Action<string>? onLine = null) : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(60);
    private Process? _process;

    public Uri BaseAddress { get; } = new($"http://127.0.0.1:{Loopback.FreePort()}");

    /// <summary>Starts it and waits for its first 200 from <c>/api/health</c> (listening, the database reachable).</summary>
    /// <returns>the time from the process start to that answer</returns>
    public async Task<TimeSpan> StartAsync()
    {
        var url = BaseAddress.ToString().TrimEnd('/');
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"), "serve", "--urls", url })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var clock = Stopwatch.StartNew();
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start profilesync serve");
        _process = process;
        process.OutputDataReceived += (_, e) => Forward(e.Data);
        process.ErrorDataReceived += (_, e) => Forward(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(url + "/api/health"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return clock.Elapsed;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet, or too busy starting to answer within the probe's timeout
            }

            if (process.HasExited || clock.Elapsed > StartLimit)
            {
                var exited = process.HasExited;
                await KillAsync();
                throw new InvalidOperationException(exited
                    ? "profilesync serve exited before it answered /api/health"
                    : $"profilesync serve did not answer /api/health within {StartLimit.TotalSeconds:0} s");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>SIGKILL, at once and from any thread (a signal handler's too): no shutdown, requests in flight are cut.</summary>
    public void Kill()
    {
        try
        {
            _process?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    /// <summary>SIGKILL, then waits for it to be gone; <see cref="StartAsync"/> may start it again.</summary>
    public async Task KillAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        Kill();
        await process.WaitForExitAsync();
        process.Dispose();
        _process = null;
    }

    public ValueTask DisposeAsync() => new(KillAsync());

    private void Forward(string? line)
    {
        if (line is not null)
        {
            onLine?.Invoke(line);
        }
    }
}
