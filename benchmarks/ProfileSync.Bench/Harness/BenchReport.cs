using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ProfileSync.Bench.Harness;

/// <summary>What a run prints at its end: the machine, the sizes, the table, and the figures beside it.</summary>
internal sealed class BenchReport
{
    public List<Row> Rows { get; } = [];

    /// <summary>Requests the signed wiring queued for the last wired signup run.</summary>
    public long WiringQueued { get; set; }

    /// <summary>The token hook's own database time per token (pg_stat_user_functions), one entry per 1-client refresh run.</summary>
    public List<double> HookFunctionMicros { get; } = [];

    public void Print(BenchOptions options)
    {
        var (users, signups, deliveries, rounds) = (options.Users, options.Signups, options.Deliveries, options.Rounds);
        Console.WriteLine();
        Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1024 / 1024 / 1024} GiB, "
                          + $"{RuntimeInformation.OSDescription}; PostgreSQL 15 (fsync on); {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine($"{rounds} rounds per row, product and baseline alternating (product first in odd rounds, baseline first in even ones); ratio = product / baseline of the figure shown (median of the rounds, min–max)");
        Console.WriteLine($"{users:N0} auth users; {signups:N0} signups per run; {deliveries:N0} deliveries per run; the wiring queued {WiringQueued:N0} requests for its last {signups:N0} signups");
        if (users < 10_000 || signups < 1_000)
        {
            // ./dev.sh test's run, so that nobody reads 8× against a target of 1.2× as a finding.
            Console.WriteLine($"At this size ({users:N0} users, {signups:N0} signups, {rounds} round{(rounds == 1 ? "" : "s")}) the ratios mean nothing: this run only checks that every path works. Measure with ./dev.sh bench (1,000,000 users, 3 rounds).");
        }

        Console.WriteLine();
        Console.WriteLine("| path | product | baseline (same run) | ratio | target |");
        Console.WriteLine("|---|---:|---|---:|---|");
        foreach (var row in Rows)
        {
            Console.WriteLine(row.Markdown());
        }

        Console.WriteLine();
        if (HookFunctionMicros.Count > 0)
        {
            // The bare hook is a SQL function PostgreSQL inlines: it has no time of its own to set beside this.
            Console.WriteLine($"The token hook's own database time inside the 1-client refreshes (pg_stat_user_functions): {HookFunctionMicros.Order().ElementAt(HookFunctionMicros.Count / 2):N0} µs a token (median of {HookFunctionMicros.Count} runs; {HookFunctionMicros.Min():N0}–{HookFunctionMicros.Max():N0}); target ≤ 100 µs");
        }

        Console.WriteLine($"Peak working set of the benchmark process (replay engine and all): {Process.GetCurrentProcess().PeakWorkingSet64 / 1024 / 1024:N0} MB");
    }
}
