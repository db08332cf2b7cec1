using System.Diagnostics;

namespace ProfileSync.Tests.Support;

/// <summary>A program run to its end as a user would run it, with what it printed and how long it took.</summary>
public static class ExternalProcess
{
    public sealed record Result(int ExitCode, string Output, string Error, TimeSpan Took)
    {
        public override string ToString() => $"exit {ExitCode} after {Took.TotalSeconds:0.0} s\n{Output}\n{Error}";
    }

    /// <param name="environment">added to this process's environment; a null value removes the variable</param>
    /// <param name="timeout">after this the program and its children are killed and the run fails</param>
    public static async Task<Result> RunAsync(
        string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Repository.Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + file);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} ran past {timeout}:\n{await output}\n{await error}");
        }

        return new Result(process.ExitCode, await output, await error, clock.Elapsed);
    }
}
