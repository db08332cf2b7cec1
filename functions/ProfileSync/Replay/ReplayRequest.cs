using System.Globalization;

namespace ProfileSync.Replay;

/// <summary>Which users a replay looks at. No user ids and no window: all of them.</summary>
public sealed record ReplayScope(
    IReadOnlyList<Guid>? UserIds = null,
    DateTimeOffset? CreatedAfter = null,
    DateTimeOffset? CreatedBefore = null);

/// <summary>A replay request's fields as one entry point names them (<c>--user-id</c>, <c>'userIds'</c>), for messages in the caller's own words.</summary>
public sealed record ReplayFieldNames(string UserIds, string CreatedAfter, string CreatedBefore, string BatchSize);

/// <summary>
/// A replay request, and the one place for its rules: every entry point (the CLI, the HTTP route, the timer) reads
/// user ids and times with <see cref="ParseUserId"/> and <see cref="ParseTime"/> and checks the whole request with
/// <see cref="Validated"/>. Messages name each field as the caller named it (<c>--user-id</c>, <c>'userIds'</c>).
/// </summary>
/// <param name="Trigger">who asked, for metrics: cli, http or timer</param>
/// <param name="TimeBudget">a replay of everyone stops between two batches before this runs out (the HTTP route's), and
/// the next replay of everyone goes on from there; none: it runs to the end</param>
public sealed record ReplayRequest(ReplayScope Scope, bool DryRun = false, int BatchSize = ReplayRequest.DefaultBatchSize, string Trigger = "cli",
    TimeSpan? TimeBudget = null)
{
    public const int DefaultBatchSize = 10_000;

    /// <summary>Smallest batch a caller may ask for: tiny batches hold the replay lock for minutes.</summary>
    public const int MinBatchSize = 100;

    public const int MaxBatchSize = 100_000;

    // ISO 8601 as people type it: a date, or a date and time (T or a space), seconds and fractions optional, with Z,
    // an offset, or nothing (UTC).
    private static readonly string[] TimeFormats =
    [
        .. from date in new[] { "yyyy-MM-dd" }
           from time in new[] { "", "'T'HH:mm", "'T'HH:mm:ss", "'T'HH:mm:ss.FFFFFFF", " HH:mm", " HH:mm:ss", " HH:mm:ss.FFFFFFF" }
           from zone in time.Length == 0 ? new[] { "" } : new[] { "", "'Z'", "zzz" }
           select date + time + zone,
    ];

    public bool CoversEveryone => Scope is { UserIds: null, CreatedAfter: null, CreatedBefore: null };

    /// <exception cref="FormatException">not a user id (<see cref="UserId"/>), with the field and the value</exception>
    public static Guid ParseUserId(string text, string field) =>
        UserId.TryParse(text, out var id)
            ? id
            : throw new FormatException($"{field} '{PrintableText.Bounded(text, 40)}' is not a user id: give the whole UUID, e.g. 6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f");

    /// <exception cref="FormatException">not an ISO 8601 time, with the field and the value</exception>
    public static DateTimeOffset ParseTime(string text, string field) =>
        DateTimeOffset.TryParseExact(text, TimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new FormatException($"{field} '{PrintableText.Bounded(text, 40)}' is not a time: use ISO 8601, e.g. 2026-11-01 or 2026-11-01T12:00:00Z");

    /// <summary>This request, once what no single value shows holds: ids given if asked for, a window that is not empty, a batch size in range.</summary>
    /// <param name="names">each field as the caller names it</param>
    /// <exception cref="FormatException">what is wrong, in the caller's names</exception>
    public ReplayRequest Validated(ReplayFieldNames names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (Scope.UserIds is { Count: 0 })
        {
            throw new FormatException($"{names.UserIds} must name at least one user");
        }

        if (Scope is { CreatedAfter: { } after, CreatedBefore: { } before } && after >= before)
        {
            throw new FormatException($"{names.CreatedAfter} must be earlier than {names.CreatedBefore}");
        }

        if (BatchSize is < MinBatchSize or > MaxBatchSize)
        {
            // The value as given, so a typo (5 for 500) shows at once.
            throw new FormatException(string.Create(CultureInfo.InvariantCulture,
                $"{names.BatchSize} {BatchSize} is out of range: it must be from {MinBatchSize} to {MaxBatchSize}"));
        }

        return this;
    }
}
