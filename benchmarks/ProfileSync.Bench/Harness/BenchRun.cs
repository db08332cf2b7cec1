using ProfileSync.Bench.Scenarios;

namespace ProfileSync.Bench.Harness;

/// <summary>One run: its own PostgreSQL seeded, every scenario in order (each starts from what the one before left), the report.</summary>
internal static class BenchRun
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        var cluster = new BenchCluster();
        using var stopOnInterrupt = cluster.StopOnInterrupt();
        Console.WriteLine($"Seeding a Supabase-shaped PostgreSQL (durable settings) with {options.Users:N0} auth users on port {cluster.Port}, data in {cluster.Directory}…");
        try
        {
            await cluster.StartAsync();
            await using var bench = await BenchContext.SeedAsync(options, cluster.ConnectionString);
            await ReplayScenarios.RunAsync(bench);
            await RuleScenarios.RunAsync(bench);
            await BulkWriteScenarios.RunAsync(bench);
            await SignupScenarios.RunAsync(bench);
            await TokenHookScenarios.RunAsync(bench);
            await ServeScenarios.RunAsync(bench);
            bench.Report.Print(options);
        }
        catch (Exception) when (cluster.Interrupted)
        {
            Thread.Sleep(Timeout.Infinite); // the interruption stops everything and exits
        }
        finally
        {
            if (!cluster.Interrupted)
            {
                await cluster.StopAsync();
            }
        }

        return 0;
    }
}
