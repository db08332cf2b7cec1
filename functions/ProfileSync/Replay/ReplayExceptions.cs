namespace ProfileSync.Replay;

/// <summary>Another replay holds the lock; this one did nothing.</summary>
public sealed class ReplayAlreadyRunningException() : Exception("another replay is running; try again when it has finished");

/// <summary>The connection holding the lock died (database restart): what was committed stays; run the replay again.</summary>
public sealed class ReplayLockLostException(Exception inner)
    : Exception("the replay lost its lock (the database connection was reset); the batches done are kept: run the replay again", inner);
