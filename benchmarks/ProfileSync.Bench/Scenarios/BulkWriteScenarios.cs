using System.Diagnostics;
using System.Globalization;
using ProfileSync.Bench.Harness;
using static ProfileSync.Bench.Harness.Measure;
using static ProfileSync.Bench.Harness.Sql;

namespace ProfileSync.Bench.Scenarios;

/// <summary>
/// An admin's bulk statements on auth.users, every user in one statement, as run in the SQL editor: with the
/// product's triggers (the fallback on, the wiring configured) against the same statement with no trigger.
/// </summary>
internal static class BulkWriteScenarios
{
    private const string BulkPlan = "update auth.users set raw_app_meta_data = raw_app_meta_data || jsonb_build_object('plan', 'plan-{round}')";

    // Every other statement bans everyone, the next lifts it: every product round rewrites every profile's is_active.
    private const string BulkBan = "update auth.users set banned_until = case when {round} % 2 = 1 then now() + interval '1 day' end";

    public static async Task RunAsync(BenchContext bench)
    {
        var (admin, drift, users) = (bench.Admin, bench.Drift, bench.Options.Users);
        var bulkRound = 0;
        async Task<double> BulkAsync(string statement, bool triggers)
        {
            await Execute(admin, triggers
                ? "update profile_sync.settings set fallback_trigger_enabled = true; " + ConfigureWiring
                : "alter table auth.users disable trigger user");
            await Execute(admin, "truncate net.http_request_queue");
            await Execute(admin, "vacuum auth.users");
            await Execute(admin, "vacuum public.user_profiles");
            await Execute(admin, "checkpoint");
            var clock = Stopwatch.StartNew();
            await Execute(admin, statement.Replace("{round}", (++bulkRound).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
            var seconds = Seconds(clock);
            await Execute(admin, "alter table auth.users enable trigger user; update profile_sync.settings set fallback_trigger_enabled = false; delete from vault.secrets");
            if (triggers)
            {
                Check(await Scalar<long>(admin, "select count(*) from net.http_request_queue") == 0, "the wiring posted nothing for users the fallback converged");
                Check((await drift.ReadAsync()).InSync, "every profile followed the bulk statement");
            }
            else
            {
                await Execute(admin, "select * from profile_sync.reconcile()"); // the profiles follow again, outside the clock
            }

            return seconds;
        }

        await bench.MeasureAsync($"bulk update of {users:N0} users' app metadata", "the same statement with no trigger", "≤ 2×",
            product: () => BulkAsync(BulkPlan, triggers: true),
            baseline: () => BulkAsync(BulkPlan, triggers: false));
        await bench.MeasureAsync($"bulk ban and unban of {users:N0} users", "the same statement with no trigger", "≤ 2×",
            product: () => BulkAsync(BulkBan, triggers: true),
            baseline: () => BulkAsync(BulkBan, triggers: false));
    }
}
