using System.Diagnostics;
using System.Net;
using Npgsql;
using ProfileSync.Bench.Harness;
using static ProfileSync.Bench.Harness.Measure;
using static ProfileSync.Bench.Harness.Sql;

namespace ProfileSync.Bench.Scenarios;

/// <summary>
/// A real <c>profilesync serve</c> process: how soon it answers after a start, and webhook deliveries through it
/// against raw upserts of the same rows.
/// </summary>
internal static class ServeScenarios
{
    public static async Task RunAsync(BenchContext bench)
    {
        await ProcessStartAsync(bench);
        await WebhookDeliveriesAsync(bench);
    }

    private static async Task ProcessStartAsync(BenchContext bench)
    {
        var startup = new List<(double Product, double Baseline)>();
        for (var round = 0; round < (bench.Options.Wanted("serve: process start") ? bench.Options.Rounds : 0); round++)
        {
            var bare = Stopwatch.StartNew();
            await RunCliAsync(bench.ConnectionString, "--help");
            var bareMs = bare.Elapsed.TotalMilliseconds;
            var (serve, firstOk) = await Serve.StartAsync(bench.ConnectionString);
            await using (serve)
            {
                startup.Add((firstOk.TotalMilliseconds, bareMs));
            }
        }

        if (startup.Count > 0)
        {
            bench.Report.Rows.Add(Row.From("serve: process start to its first 200 (/api/health)", "the same CLI started for --help", "", startup, " ms"));
        }
    }

    private static async Task WebhookDeliveriesAsync(BenchContext bench)
    {
        if (!bench.Options.Wanted("webhook deliveries"))
        {
            return;
        }

        var (admin, connectionString, deliveries, rounds) = (bench.Admin, bench.ConnectionString, bench.Options.Deliveries, bench.Options.Rounds);
        var (serve, _) = await Serve.StartAsync(connectionString);
        await using (serve)
        {
            var ids = new List<Guid>();
            await using (var command = admin.CreateCommand($"select id from auth.users order by id limit {deliveries}"))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    ids.Add(reader.GetGuid(0));
                }
            }

            await using var raw = NpgsqlDataSource.Create(connectionString + ";Options=-c profile_sync.writer=sync;Command Timeout=0");
            using var http = new HttpClient { BaseAddress = serve.BaseAddress };
            foreach (var senders in new[] { 1, 16, 64 })
            {
                var webhook = new List<Latencies>();
                var upserts = new List<Latencies>();
                for (var round = 0; round < rounds; round++)
                {
                    await DeleteProfilesAsync(admin, ids);
                    webhook.Add(await Latencies.MeasureAsync(ids, senders, async (id, token) =>
                    {
                        using var request = Serve.SignedInsert(id);
                        using var response = await http.SendAsync(request, token);
                        Check(response.StatusCode == HttpStatusCode.OK, $"webhook answered {(int)response.StatusCode}");
                    }));
                    Check(await Scalar<long>(admin, $"select count(*) from public.user_profiles where user_id = any('{{{string.Join(',', ids)}}}')") == ids.Count, "every delivery created its profile");

                    await DeleteProfilesAsync(admin, ids);
                    upserts.Add(await Latencies.MeasureAsync(ids, senders, async (id, token) =>
                    {
                        await using var command = raw.CreateCommand("""
                            insert into public.user_profiles (user_id, email, display_name, is_active, attributes, source_updated_at, created_via)
                            values ($1, $2, $3, true, '{"role":"user"}', now(), 'webhook')
                            on conflict (user_id) do update set email = excluded.email, display_name = excluded.display_name, updated_at = now()
                            """);
                        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = id });
                        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = $"{id:N}@example.com" });
                        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = "User" });
                        await command.ExecuteNonQueryAsync(token);
                    }));
                }

                bench.Report.Rows.Add(Row.FromLatencies($"webhook deliveries, {senders} sender{(senders == 1 ? "" : "s")}", "raw single-row upserts, same rows and concurrency",
                    senders == 16 ? "≥ 0.7×, p99 ≤ 25 ms" : "", webhook, upserts));
            }
        }
    }

    /// <summary>The CLI as its own process, to the end of its output: what any start of it costs.</summary>
    private static async Task RunCliAsync(string connectionString, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ProfileSync.Cli.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ProfileSync__ConnectionString"] = connectionString;
        using var process = Process.Start(start)!;
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
    }
}
