using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using ProfileSync.Replay;
using ProfileSync.Resilience;

namespace ProfileFunctions;

public sealed partial class ReplayFunctions(ReplayHandler handler, ProfileReplayer replayer, ILogger<ReplayFunctions> logger)
{
    [Function("ReplayProfiles")]
    public async Task<IActionResult> ReplayAsync(
        [HttpTrigger(AuthorizationLevel.Admin, "post", Route = "profiles/replay")] HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        await handler.HandleAsync(request.HttpContext);
        return new EmptyResult();
    }

    /// <summary>Converges whatever the events missed: missing, stale and orphaned profiles. Run by hand: POST /admin/functions/ReconcileProfiles.</summary>
    [Function("ReconcileProfiles")]
    public async Task ReconcileAsync([TimerTrigger("%ProfileSync__ReconcileSchedule%")] TimerInfo timer, CancellationToken cancellationToken)
    {
        try
        {
            var report = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), Trigger: "timer"), cancellationToken: cancellationToken);
            LogReconciled(logger, report.Scanned, report.Created, report.Refreshed, report.Removed, report.ElapsedMs);
            if (report.Failed > 0)
            {
                LogSetAside(logger, report.Failed, string.Join(", ", report.FailedUserIds));
            }
        }
        catch (ReplayAlreadyRunningException)
        {
            LogSkipped(logger);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The batches done are kept; the next tick goes on from where this one stopped.
            LogStopped(logger, DatabaseResilience.Describe(e is ReplayLockLostException { InnerException: { } inner } ? inner : e));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconcile: scanned {Scanned}, created {Created}, refreshed {Refreshed}, removed {Removed} in {ElapsedMs} ms")]
    private static partial void LogReconciled(ILogger logger, long scanned, long created, long refreshed, long removed, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconcile set aside {Failed} users whose profile cannot be written (among them {UserIds}); profilesync explain --user-id says why")]
    private static partial void LogSetAside(ILogger logger, long failed, string userIds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reconcile stopped ({Failure}); the next run goes on")]
    private static partial void LogStopped(ILogger logger, string failure);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconcile skipped: another replay is running")]
    private static partial void LogSkipped(ILogger logger);
}
