namespace ProfileSync;

/// <summary>
/// At most one log line per period for something any caller can cause at will, so a flood cannot fill the log;
/// the next line says how many were left out meanwhile.
/// </summary>
public sealed class LogThrottle(TimeProvider clock, TimeSpan period)
{
    private readonly long _periodTicks = (long)(period.TotalSeconds * clock.TimestampFrequency);
    private long _nextLineAt = long.MinValue;
    private long _leftOut;

    /// <returns>true when a line may be written now; <paramref name="leftOut"/> is how many were not since the last.</returns>
    public bool TryEnter(out long leftOut)
    {
        var now = clock.GetTimestamp();
        var next = Interlocked.Read(ref _nextLineAt);
        if (now >= next && Interlocked.CompareExchange(ref _nextLineAt, now + _periodTicks, next) == next)
        {
            leftOut = Interlocked.Exchange(ref _leftOut, 0);
            return true;
        }

        Interlocked.Increment(ref _leftOut);
        leftOut = 0;
        return false;
    }
}
