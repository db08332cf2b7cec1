using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ProfileSync.Telemetry;

/// <summary>
/// The product's spans and metrics (OpenTelemetry through System.Diagnostics): one place that names them. Nothing
/// here carries an e-mail, metadata, a body or an SQL parameter: events are described by type, outcome, status and
/// user id. With no exporter configured nothing listens, and each call costs a flag check.
/// </summary>
public static class ProfileSyncTelemetry
{
    /// <summary>The ActivitySource and Meter name, to add to a tracer or meter provider.</summary>
    public const string Name = "ProfileSync";

    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);

    private static readonly Counter<long> Events = Meter.CreateCounter<long>(
        "profilesync.events", "{event}", "Auth events handled, by event type, outcome and HTTP status");

    private static readonly Histogram<double> EventDuration = Meter.CreateHistogram<double>(
        "profilesync.event.duration", "s", "Time to handle an auth event, from reading the body to the answer",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });

    private static readonly Counter<long> Retries = Meter.CreateCounter<long>(
        "profilesync.database.retries", "{retry}", "Database calls tried again after a transient failure");

    private static readonly Counter<long> CircuitChanges = Meter.CreateCounter<long>(
        "profilesync.database.circuit_changes", "{change}", "Circuit breaker state changes (state: open, half_open, closed)");

    private static readonly Counter<long> ReplayRuns = Meter.CreateCounter<long>(
        "profilesync.replay.runs", "{run}", "Replay and reconcile runs, by trigger (cli, http, timer), dry run and result");

    private static readonly Counter<long> ReplayChanges = Meter.CreateCounter<long>(
        "profilesync.replay.profiles", "{profile}", "Profiles a replay or reconcile changed (change: created, refreshed, removed)");

    // Drift as the last reconcile, replay of everyone or status found it, before converging it.
    private static long _missing = -1, _stale = -1, _orphaned = -1;

    static ProfileSyncTelemetry()
    {
        Meter.CreateObservableGauge("profilesync.drift.users_without_profile", () => Observed(ref _missing), "{user}",
            "Auth users without a profile, as the last reconcile or status found them");
        Meter.CreateObservableGauge("profilesync.drift.stale_profiles", () => Observed(ref _stale), "{profile}",
            "Profiles that differ from what auth.users implies, as the last reconcile or status found them");
        Meter.CreateObservableGauge("profilesync.drift.profiles_without_user", () => Observed(ref _orphaned), "{profile}",
            "Profiles whose auth user is gone, as the last reconcile or status found them");
    }

    /// <summary>The span of one auth event; null when nobody listens.</summary>
    public static Activity? StartEvent() => Source.StartActivity("profilesync.event", ActivityKind.Internal);

    /// <param name="eventType">insert, update, delete… or "unknown" when the event was refused before it was read</param>
    /// <param name="outcome">
    /// a <see cref="Events.ProfileOutcome"/>'s name (created, updated, unchanged, deleted, ignored, failed, deferred); or how the
    /// event was refused or failed: unauthorized, rejected, too_large, incomplete_body, unavailable, error; a bulk event's applied
    /// </param>
    public static void EventHandled(Activity? activity, string eventType, string outcome, int status, Guid? userId, TimeSpan elapsed)
    {
        var tags = new TagList { { "profilesync.event.type", eventType }, { "profilesync.outcome", outcome }, { "http.response.status_code", status } };
        Events.Add(1, tags);
        EventDuration.Record(elapsed.TotalSeconds, new TagList { { "profilesync.event.type", eventType }, { "profilesync.outcome", outcome } });
        if (activity is null)
        {
            return;
        }

        activity.SetTag("profilesync.event.type", eventType);
        activity.SetTag("profilesync.outcome", outcome);
        activity.SetTag("http.response.status_code", status);
        if (userId is { } id)
        {
            activity.SetTag("enduser.id", id.ToString());
        }

        if (status >= 500)
        {
            activity.SetStatus(ActivityStatusCode.Error, outcome);
        }
    }

    /// <summary>
    /// The span of one shared convergence call: a child of the first event's span, linked to every other event's.
    /// </summary>
    public static Activity? StartConvergence(IEnumerable<ActivityContext> callers, int events)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var contexts = callers.Where(c => c != default).ToList();
        return Source.StartActivity("profilesync.converge", ActivityKind.Internal,
            contexts.Count > 0 ? contexts[0] : default,
            new TagList { { "profilesync.events", events } },
            contexts.Skip(1).Select(c => new ActivityLink(c)));
    }

    public static void Retried() => Retries.Add(1);

    /// <param name="state">open, half_open, closed</param>
    public static void CircuitChanged(string state) => CircuitChanges.Add(1, new KeyValuePair<string, object?>("state", state));

    /// <summary>The span of one replay statement (the pass over everyone, or a batch); null when nobody listens.</summary>
    public static Activity? StartReplayStep(string step, int batch) =>
        Source.StartActivity($"profilesync.replay.{step}", ActivityKind.Internal)?.SetTag("profilesync.replay.batch", batch);

    public static void ReplayStepDone(Activity? activity, long scanned, long changed) =>
        activity?.SetTag("profilesync.replay.scanned", scanned).SetTag("profilesync.replay.changed", changed);

    /// <param name="trigger">cli, http, timer</param>
    /// <param name="result">completed, unfinished (its time budget ran out; the next one goes on), busy, failed</param>
    public static void ReplayRan(string trigger, bool dryRun, string result, long created, long refreshed, long removed)
    {
        ReplayRuns.Add(1, new TagList { { "profilesync.trigger", trigger }, { "profilesync.dry_run", dryRun }, { "profilesync.result", result } });
        AddChanges("created", created);
        AddChanges("refreshed", refreshed);
        AddChanges("removed", removed);

        static void AddChanges(string change, long count)
        {
            if (count > 0)
            {
                ReplayChanges.Add(count, new KeyValuePair<string, object?>("change", change));
            }
        }
    }

    /// <summary>What a look at every user found: the drift gauges report it until the next look.</summary>
    public static void DriftFound(long usersWithoutProfile, long staleProfiles, long profilesWithoutUser)
    {
        Interlocked.Exchange(ref _missing, usersWithoutProfile);
        Interlocked.Exchange(ref _stale, staleProfiles);
        Interlocked.Exchange(ref _orphaned, profilesWithoutUser);
    }

    // Nothing to report before the first look: a gauge of 0 would claim "in sync".
    private static IEnumerable<Measurement<long>> Observed(ref long value)
    {
        var current = Interlocked.Read(ref value);
        return current < 0 ? [] : [new Measurement<long>(current)];
    }
}
