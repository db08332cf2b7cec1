namespace ProfileSync.Replay;

/// <summary>
/// What a replay found and did. scanned: users looked at; missing / stale / orphaned: profiles found missing, stale,
/// or left by a user who is gone; created / refreshed / removed: what this replay changed (0 on a dry run).
/// </summary>
public record ReplayCounts(long Scanned, long Missing, long Created, long Stale, long Refreshed, long Orphaned, long Removed)
{
    public static readonly ReplayCounts None = new(0, 0, 0, 0, 0, 0, 0);

    public ReplayCounts Add(ReplayCounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Scanned + other.Scanned, Missing + other.Missing, Created + other.Created, Stale + other.Stale,
            Refreshed + other.Refreshed, Orphaned + other.Orphaned, Removed + other.Removed);
    }
}

/// <summary>A finished replay: its counts, whether it was a dry run, and how long it took (the JSON answer and <c>--json</c>).</summary>
public sealed record ReplayReport : ReplayCounts
{
    public ReplayReport(ReplayCounts counts, bool dryRun, long elapsedMs)
        : base(counts)
    {
        DryRun = dryRun;
        ElapsedMs = elapsedMs;
    }

    public bool DryRun { get; }

    public long ElapsedMs { get; }
}
