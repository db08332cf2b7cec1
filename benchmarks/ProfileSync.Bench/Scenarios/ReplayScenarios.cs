using System.Diagnostics;
using ProfileSync.Bench.Harness;
using ProfileSync.Replay;
using static ProfileSync.Bench.Harness.Measure;
using static ProfileSync.Bench.Harness.Sql;

namespace ProfileSync.Bench.Scenarios;

/// <summary>Replay, reconcile and status over every user: adopting the product, then every day's nothing to do.</summary>
internal static class ReplayScenarios
{
    /// <summary>Leaves every user with a profile, whichever rows ran: the scenarios after it start from there.</summary>
    public static async Task RunAsync(BenchContext bench)
    {
        var (admin, replayer, drift, users, batchSize) = (bench.Admin, bench.Replayer, bench.Drift, bench.Options.Users, bench.Options.BatchSize);

        // Adopting the product: every profile missing.
        await bench.MeasureAsync($"replay, {users:N0} missing profiles", "seed-style one-statement backfill", "≤ 1.2×",
            product: async () =>
            {
                await ResetAsync(admin);
                var clock = Stopwatch.StartNew();
                var report = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
                Check(report.Created == users, "replay created every profile");
                return Seconds(clock);
            },
            baseline: async () =>
            {
                await ResetAsync(admin);
                var clock = Stopwatch.StartNew();
                // One INSERT … SELECT … LEFT JOIN with constant attributes and no rules, as a sync write (the ownership
                // triggers stand aside as they do for the replay).
                await Execute(admin, """
                    select set_config('profile_sync.writer', 'sync', true);
                    insert into public.user_profiles (user_id, email, display_name, is_active, attributes, source_updated_at, created_via)
                    select u.id, u.email, coalesce(u.raw_user_meta_data ->> 'full_name', u.email), true,
                           '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}',
                           u.updated_at, 'replay'
                    from auth.users u
                    left join public.user_profiles up on up.user_id = u.id
                    where up.user_id is null;
                    """);
                return Seconds(clock);
            });
        await ResetAsync(admin);
        await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));

        // Every day: nothing to do.
        await bench.MeasureAsync($"reconcile, {users:N0} users in sync", "status on the same users", "≤ about 1×",
            product: async () =>
            {
                var clock = Stopwatch.StartNew();
                var report = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
                Check(report.Created + report.Refreshed + report.Removed == 0, "an in-sync reconcile writes nothing");
                return Seconds(clock);
            },
            baseline: async () =>
            {
                var clock = Stopwatch.StartNew();
                Check((await drift.ReadAsync()).InSync, "status in sync");
                return Seconds(clock);
            });
        await bench.MeasureAsync($"status, {users:N0} users in sync", "count of users without a profile (one anti-join)", "≤ 5×",
            product: async () =>
            {
                var clock = Stopwatch.StartNew();
                Check((await drift.ReadAsync()).InSync, "status in sync");
                return Seconds(clock);
            },
            baseline: async () =>
            {
                var clock = Stopwatch.StartNew();
                await Execute(admin, "select count(*) from auth.users u where not exists (select 1 from public.user_profiles p where p.user_id = u.id)");
                return Seconds(clock);
            });
    }
}
