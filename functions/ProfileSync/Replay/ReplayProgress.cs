namespace ProfileSync.Replay;

/// <param name="Done">the share of the scope done, 0 to 1</param>
public sealed record ReplayProgress(int Batches, ReplayCounts Counts, TimeSpan Elapsed, double Done)
{
    /// <summary>Time left at the pace so far, once there is a pace to go by.</summary>
    public TimeSpan? Remaining => Done is > 0 and < 1 ? Elapsed * ((1 - Done) / Done) : null;
}
