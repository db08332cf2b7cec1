using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>
/// Healing without the function app: <c>profile_sync.schedule_reconcile()</c> on pg_cron, which the test cluster
/// preloads as Supabase does (jobs run in the database <c>postgres</c> only).
/// </summary>
public sealed class ScheduledReconcileTests(PostgresCluster cluster)
{
    [Fact]
    public async Task Scheduled_reconcile_heals_a_lapsed_ban_and_a_stale_email_with_the_fallback_off_and_no_event()
    {
        await using var db = cluster.MainDatabase();
        var tag = Guid.NewGuid().ToString("N")[..8];
        await db.SetFallbackTriggerAsync(enabled: false);
        try
        {
            var banned = await db.SignUpAsync(email: $"cron-banned-{tag}@example.com", bannedUntil: DateTime.UtcNow.AddSeconds(3));
            var moved = await db.SignUpAsync(email: $"cron-moved-{tag}@example.com");
            await db.ScalarAsync<long>("select created from profile_sync.reconcile()");
            Assert.False((await db.ProfileAsync(banned))!.IsActive);
            await db.UpdateUserAsync(moved, "email = $2", $"cron-moved-{tag}@new.example.com"); // no trigger converges it, no webhook is wired

            var job = await db.ScalarAsync<long>("select profile_sync.schedule_reconcile('*/5 * * * *')");
            Assert.Equal(job, await db.ScalarAsync<long>("select profile_sync.schedule_reconcile('* * * * *')")); // rescheduled, not doubled
            Assert.Equal(
                "profile_sync_reconcile|* * * * *|select * from profile_sync.reconcile()|postgres|postgres|t",
                await db.ScalarAsync<string>("select concat_ws('|', jobname, schedule, command, database, username, active) from cron.job"));

            // pg_cron runs it at the next minute: the ban has lapsed by then, and nothing else reported either change.
            // The run's status is written after its transaction commits, so wait for that too.
            const string lastRunStatus = "select coalesce((select status from cron.job_run_details where jobid = $1 order by runid desc limit 1), '')";
            await Eventually.HoldsAsync(
                async () => (await db.ProfileAsync(banned))!.IsActive
                    && (await db.ProfileAsync(moved))!.Email == $"cron-moved-{tag}@new.example.com"
                    && await db.ScalarAsync<string>(lastRunStatus, "postgres", job) is "succeeded" or "failed",
                within: TimeSpan.FromSeconds(150));
            Assert.Equal("succeeded", await db.ScalarAsync<string>(lastRunStatus, "postgres", job));

            Assert.True(await db.ScalarAsync<bool>("select profile_sync.unschedule_reconcile()"));
            Assert.Equal(0L, await db.ScalarAsync<long>("select count(*) from cron.job"));
            Assert.False(await db.ScalarAsync<bool>("select profile_sync.unschedule_reconcile()"));
        }
        finally
        {
            await db.ExecuteAsync("select profile_sync.unschedule_reconcile(); update profile_sync.settings set fallback_trigger_enabled = true");
        }
    }

    [Fact]
    public async Task Without_pg_cron_the_migrations_apply_and_scheduling_says_how_to_install_it()
    {
        // A database of its own: pg_cron lives only in the cluster's postgres database.
        await using var db = await cluster.CreateDatabaseAsync();

        var error = await Assert.ThrowsAsync<PostgresException>(() => db.ScalarAsync<long>("select profile_sync.schedule_reconcile()"));

        Assert.Equal("0A000", error.SqlState);
        Assert.Contains("pg_cron is not installed", error.MessageText, StringComparison.Ordinal);
        Assert.Contains("Database → Extensions → enable pg_cron", error.Hint, StringComparison.Ordinal);
        Assert.False(await db.ScalarAsync<bool>("select profile_sync.unschedule_reconcile()"));
    }
}
