// Every hot path of ProfileFunctions against a baseline measured in the same run, on the same data, round after round
// (product and baseline alternate). One table: the product's figure, the baseline's, and the ratio (median of the
// rounds, with min and max). No timing assertions: it checks results only.
// Harness/ runs it (options, its PostgreSQL, measuring, the table); Scenarios/ holds the rows, one file per group.
using ProfileSync.Bench.Harness;

var (options, usageError) = BenchCommandLine.Parse(args);
if (usageError is not null)
{
    await Console.Error.WriteLineAsync(usageError);
    return 2;
}

if (options is null) // --help
{
    Console.WriteLine(BenchCommandLine.Usage);
    return 0;
}

return await BenchRun.RunAsync(options);
