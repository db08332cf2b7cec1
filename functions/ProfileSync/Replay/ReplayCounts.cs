namespace ProfileSync.Replay;

/// <summary>
/// What a replay found and did. scanned: users looked at; missing / stale / orphaned: profiles found missing, stale,
/// or left by a user who is gone; created / refreshed / removed: what this replay changed (0 on a dry run); failed:
/// users whose profile could not be written, set aside so that the others converge (<c>profilesync explain</c> says
/// why), with a few of them in <see cref="FailedUserIds"/>.
/// </summary>
public record ReplayCounts(long Scanned, long Missing, long Created, long Stale, long Refreshed, long Orphaned, long Removed,
    long Failed, IReadOnlyList<Guid> FailedUserIds)
{
    /// <summary>How many of the users set aside a report names.</summary>
    public const int FailedSampleSize = 5;

    public static readonly ReplayCounts None = new(0, 0, 0, 0, 0, 0, 0, 0, []);

    public ReplayCounts Add(ReplayCounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Scanned + other.Scanned, Missing + other.Missing, Created + other.Created, Stale + other.Stale,
            Refreshed + other.Refreshed, Orphaned + other.Orphaned, Removed + other.Removed, Failed + other.Failed,
            [.. FailedUserIds.Concat(other.FailedUserIds).Take(FailedSampleSize)]);
    }

    // The sample compared by its ids, not by reference: two reports of the same replay are equal.
    public virtual bool Equals(ReplayCounts? other) =>
        other is not null && EqualityContract == other.EqualityContract && (Scanned, Missing, Created, Stale, Refreshed, Orphaned, Removed, Failed)
            == (other.Scanned, other.Missing, other.Created, other.Stale, other.Refreshed, other.Orphaned, other.Removed, other.Failed)
        && FailedUserIds.SequenceEqual(other.FailedUserIds);

    public override int GetHashCode() => HashCode.Combine(Scanned, Missing, Created, Stale, Refreshed, Orphaned, Removed, Failed);
}

/// <summary>
/// What a replay did (the JSON answer and <c>--json</c>): its counts, whether it was a dry run, and how long it took.
/// A replay of everyone goes on from where an earlier one stopped, if one did (<see cref="Resumed"/>; the counts are
/// this run's), and may stop before the end when its time budget runs out (<see cref="Complete"/> false;
/// <see cref="Done"/> says how far it got, and the next replay of everyone goes on from there).
/// </summary>
public sealed record ReplayReport : ReplayCounts
{
    public ReplayReport(ReplayCounts counts, bool dryRun, long elapsedMs, bool complete = true, bool resumed = false, double done = 1)
        : base(counts)
    {
        DryRun = dryRun;
        ElapsedMs = elapsedMs;
        Complete = complete;
        Resumed = resumed;
        Done = done;
    }

    public bool DryRun { get; }

    public long ElapsedMs { get; }

    public bool Complete { get; }

    public bool Resumed { get; }

    /// <summary>The share of the users covered, 0 to 1.</summary>
    public double Done { get; }
}
