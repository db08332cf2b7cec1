using System.Globalization;

namespace ProfileSync.Bench.Harness;

/// <summary>One line of the table: the product's and the baseline's figure per round, and their ratio.</summary>
internal sealed record Row(string Name, string Product, string Baseline, string Ratio, string Target)
{
    public static Row From(string name, string baselineName, string target, List<(double Product, double Baseline)> rounds, string unit)
    {
        var ratios = rounds.Select(r => r.Product / r.Baseline).Order().ToList();
        var product = Median(rounds.Select(r => r.Product));
        var baseline = Median(rounds.Select(r => r.Baseline));
        var format = unit == " s" ? "N2" : "N0";
        return new Row(name, $"{product.ToString(format, CultureInfo.InvariantCulture)}{unit}",
            $"{baselineName}: {baseline.ToString(format, CultureInfo.InvariantCulture)}{unit}",
            $"{Median(ratios):N2}× ({ratios[0]:N2}–{ratios[^1]:N2})", target);
    }

    public static Row FromLatencies(string name, string baselineName, string target, List<Latencies> product, List<Latencies> baseline)
    {
        var ratios = product.Zip(baseline, (p, b) => p.PerSecond / b.PerSecond).Order().ToList();
        static string Describe(List<Latencies> runs) =>
            $"{Median(runs.Select(r => r.PerSecond)):N0}/s, p50 {Median(runs.Select(r => r.P50)):N1} ms, p99 {Median(runs.Select(r => r.P99)):N1} ms";
        return new Row(name, Describe(product), $"{baselineName}: {Describe(baseline)}", $"{Median(ratios):N2}× ({ratios[0]:N2}–{ratios[^1]:N2})", target);
    }

    public string Markdown() => $"| {Name} | {Product} | {Baseline} | {Ratio} | {Target} |";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
