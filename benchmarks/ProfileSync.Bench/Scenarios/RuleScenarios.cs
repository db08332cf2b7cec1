using System.Diagnostics;
using Npgsql;
using ProfileSync.Bench.Harness;
using ProfileSync.Replay;
using static ProfileSync.Bench.Harness.Measure;
using static ProfileSync.Bench.Harness.Sql;

namespace ProfileSync.Bench.Scenarios;

/// <summary>
/// 1,000 attribute rules over every user, against none: the replay that applies them to everyone, then, on the same
/// converged users, status and one user's mapping. Each round rewrites every profile on both sides: the product adds
/// the rules, the baseline changes the defaults instead. Starts and ends with every profile converged, with no rule.
/// </summary>
internal static class RuleScenarios
{
    private const int Rules = 1_000;

    // Users whose mapping is timed, one after another on one connection, the statement prepared.
    private const int Mappings = 2_000;

    private sealed record Figures(double Replay, double Status, double Mapping)
    {
        public override string ToString() => $"replay {Replay:N2} s, status {Status:N2} s, mapping {Mapping:N0} µs";
    }

    public static async Task RunAsync(BenchContext bench)
    {
        var (admin, replayer, drift, users, batchSize) = (bench.Admin, bench.Replayer, bench.Drift, bench.Options.Users, bench.Options.BatchSize);
        var replayName = $"replay applying {Rules:N0} new attribute rules, {users:N0} users";
        var statusName = $"status, {users:N0} users in sync, {Rules:N0} attribute rules";
        var mappingName = $"one user's mapping, {Rules:N0} attribute rules";
        if (!new[] { replayName, statusName, mappingName }.Any(bench.Options.Wanted))
        {
            return;
        }

        var round = 0;
        async Task<Figures> ReplayAsync(string change)
        {
            await Execute(admin, $"delete from profile_sync.attribute_rules; {change}; checkpoint");
            var clock = Stopwatch.StartNew();
            var report = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
            var replay = Seconds(clock);
            Check(report.Failed == 0 && report.Created == 0, "the replay refreshed every profile");
            clock.Restart();
            Check((await drift.ReadAsync()).InSync, "status in sync");
            return new Figures(replay, Seconds(clock), await MappingMicrosecondsAsync(admin));
        }

        // The three rows come from the same rounds: each is measured on the profiles its round's replay converged.
        var rounds = await bench.RoundsAsync(
            product: async () =>
            {
                var figures = await ReplayAsync(InsertAttributeRules(Rules));
                Check(await Scalar<long>(admin, "select count(*) from public.user_profiles where attributes @> '{\"level1\":true,\"level2\":true}'") == users,
                    "every profile has the matching rules' attributes");
                return figures;
            },
            // Every profile's attributes change, as the product's rules change them.
            baseline: () => ReplayAsync($"update profile_sync.settings set default_attributes = default_attributes || jsonb_build_object('round', {++round})"),
            done: (p, b, n) => Console.WriteLine($"  {Rules:N0} attribute rules: round {n}: {p} against {b}"));
        bench.Report.Rows.Add(Row.From(replayName, "the same replay after a change of the defaults", "completes",
            [.. rounds.Select(r => (r.Product.Replay, r.Baseline.Replay))], " s"));
        bench.Report.Rows.Add(Row.From(statusName, "the same status with no rule", "≤ 1.5×",
            [.. rounds.Select(r => (r.Product.Status, r.Baseline.Status))], " s"));
        bench.Report.Rows.Add(Row.From(mappingName, "with no rule", "≤ 1,000 µs",
            [.. rounds.Select(r => (r.Product.Mapping, r.Baseline.Mapping))], " µs"));

        // As the scenarios after these expect: no rule, every profile converged.
        await Execute(admin, "delete from profile_sync.attribute_rules; update profile_sync.settings set default_attributes = default_attributes - 'round'");
        await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
    }

    private static async Task<double> MappingMicrosecondsAsync(NpgsqlDataSource admin)
    {
        var ids = new List<Guid>();
        await using (var pick = admin.CreateCommand($"select id from auth.users order by id limit {Mappings}"))
        await using (var reader = await pick.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                ids.Add(reader.GetGuid(0));
            }
        }

        await using var connection = await admin.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("select attributes from profile_sync.derived_profiles where user_id = $1", connection);
        var id = new NpgsqlParameter<Guid>();
        command.Parameters.Add(id);
        await command.PrepareAsync();
        var clock = Stopwatch.StartNew();
        foreach (var user in ids)
        {
            id.TypedValue = user;
            Check(await command.ExecuteScalarAsync() is not null, "a user's mapping");
        }

        return clock.Elapsed.TotalMicroseconds / ids.Count;
    }
}
