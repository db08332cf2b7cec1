using System.Diagnostics;

namespace ProfileSync.Bench.Harness;

/// <summary>What every row's code uses to time and to check: no timing assertions, results only.</summary>
internal static class Measure
{
    public static double Seconds(Stopwatch clock) => clock.Elapsed.TotalSeconds;

    public static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("benchmark check failed: " + what);
        }
    }
}

/// <summary>Throughput and latency of one operation per id, run by a number of concurrent workers.</summary>
internal sealed record Latencies(double PerSecond, double P50, double P99)
{
    public static async Task<Latencies> MeasureAsync(List<Guid> ids, int workers, Func<Guid, CancellationToken, Task> operation)
    {
        var latencies = new double[ids.Count];
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Count), new ParallelOptions { MaxDegreeOfParallelism = workers }, async (i, token) =>
        {
            var one = Stopwatch.GetTimestamp();
            await operation(ids[i], token);
            latencies[i] = Stopwatch.GetElapsedTime(one).TotalMilliseconds;
        });
        var total = clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        return new Latencies(ids.Count / total, latencies[latencies.Length / 2], latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * 0.99))]);
    }
}
