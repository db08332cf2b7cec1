using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace ProfileSync.Tests.Bench;

/// <summary>The benchmark program as <c>./dev.sh bench</c> runs it: its options, and what an interruption leaves.</summary>
public sealed partial class BenchCommandTests
{
    private static readonly string Bench = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..",
        "benchmarks", "ProfileSync.Bench", "bin", "Debug", "net10.0", "ProfileSync.Bench.dll"));

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("--users", "5", "--help")]
    public async Task Help_prints_the_options_and_starts_nothing(params string[] args)
    {
        var (exitCode, output, error) = await RunAsync(args);

        Assert.Equal(0, exitCode);
        Assert.StartsWith("Usage: ./dev.sh bench [options]", output, StringComparison.Ordinal);
        Assert.Contains("--only TEXT", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Seeding", output, StringComparison.Ordinal);
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData("bench: unknown option '--user'", "--user", "5")]
    [InlineData("bench: --users needs a whole number above 0", "--users", "many")]
    [InlineData("bench: --rounds needs a whole number above 0", "--rounds")]
    [InlineData("bench: unknown option 'frobnicate'", "frobnicate")]
    [InlineData("bench: --only needs a text", "--only", "in sync", "--only")]
    public async Task A_mistyped_option_is_a_usage_error_and_starts_nothing(string message, params string[] args)
    {
        var (exitCode, output, error) = await RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.StartsWith(message, error, StringComparison.Ordinal);
        Assert.Contains("Usage: ./dev.sh bench", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Theory]
    [InlineData("--frobnicate", "--frobnicate")]
    [InlineData("--colour", "--users", "5", "--colour", "red")]
    [InlineData("-x", "--only", "in sync", "-x")]
    [InlineData("--version", "--version")]
    [InlineData("[diagram]", "[diagram]", "--users", "5")]
    public async Task An_unknown_option_is_one_line_of_usage_and_a_non_zero_exit(string unknown, params string[] args)
    {
        var (exitCode, output, error) = await RunAsync(args);

        Assert.NotEqual(0, exitCode);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"bench: unknown option '{unknown}'. Usage: ./dev.sh bench [--users N]", line, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task An_interrupted_run_stops_its_database_and_removes_its_data()
    {
        var start = Start("--users", "2000", "--signups", "100", "--deliveries", "100", "--rounds", "1");
        using var bench = Process.Start(start)!;
        var seeding = await bench.StandardOutput.ReadLineAsync();
        var match = SeedingLine().Match(seeding ?? "");
        Assert.True(match.Success, seeding);
        var (port, directory) = (int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups[2].Value);
        _ = bench.StandardOutput.ReadToEndAsync();
        _ = bench.StandardError.ReadToEndAsync();
        await Support.Eventually.HoldsAsync(() => Task.FromResult(Listening(port)), TimeSpan.FromSeconds(60));

        using (var kill = Process.Start("kill", ["-TERM", bench.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var within = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await bench.WaitForExitAsync(within.Token);
        Assert.False(Directory.Exists(directory), directory);
        Assert.False(Listening(port));
    }

    private static bool Listening(int port)
    {
        try
        {
            using var probe = new TcpClient();
            probe.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static ProcessStartInfo Start(params string[] args)
    {
        Assert.True(File.Exists(Bench), $"{Bench} is built with the solution");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Bench);
        foreach (var argument in args)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var bench = Process.Start(Start(args))!;
        var output = bench.StandardOutput.ReadToEndAsync();
        var error = bench.StandardError.ReadToEndAsync();
        using var within = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await bench.WaitForExitAsync(within.Token);
        return (bench.ExitCode, await output, await error);
    }

    [GeneratedRegex(@"on port (\d+), data in (\S+)…$")]
    private static partial Regex SeedingLine();
}
