namespace ProfileSync.Replay;

/// <param name="Done">the share of the scope done, 0 to 1</param>
public sealed record ReplayProgress(int Batches, ReplayCounts Counts, TimeSpan Elapsed, double Done)
{
    /// <summary>Time left at the pace so far, once there is a pace to go by.</summary>
    public TimeSpan? Remaining => Done is > 0 and < 1 ? Elapsed * ((1 - Done) / Done) : null;

    /// <summary>
    /// The share of everyone done once every user up to this id is: batches go in id order, and Supabase's user ids
    /// are random (v4) UUIDs, spread evenly, so the id's place among all UUIDs is the share, with nothing counted first.
    /// </summary>
    public static double ShareUpTo(Guid lastId)
    {
        var bytes = lastId.ToByteArray(bigEndian: true); // PostgreSQL orders uuids by these bytes
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes) / 18446744073709551616.0; // 2^64
    }
}
