using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using ProfileSync.Replay;
using ProfileSync.Resilience;
using ProfileSync.Telemetry;

namespace ProfileSync.Status;

/// <summary>
/// How far <c>public.user_profiles</c> has drifted from what <c>auth.users</c>, the defaults and the ownership rules
/// imply. Stale profiles are counted per field too (a profile stale in two fields counts once in the total). Failed
/// profiles are those of the drift that a convergence met and could not write (set aside; each is also missing, stale
/// or orphaned).
/// </summary>
public sealed record DriftReport(
    long AuthUsers,
    long Profiles,
    long UsersWithoutProfile,
    IReadOnlyList<Guid> SampleUsersWithoutProfile,
    long StaleProfiles,
    IReadOnlyDictionary<string, long> StaleFields,
    IReadOnlyList<Guid> SampleStaleProfiles,
    long ProfilesWithoutUser,
    IReadOnlyList<Guid> SampleProfilesWithoutUser,
    long FailedProfiles,
    IReadOnlyList<SetAside> SampleFailedProfiles,
    IReadOnlyList<UnfinishedReplay> UnfinishedReplays,
    IReadOnlyList<string> Warnings)
{
    public bool InSync => UsersWithoutProfile == 0 && StaleProfiles == 0 && ProfilesWithoutUser == 0;
}

/// <summary>A user whose profile a convergence could not write, and why (a SQLSTATE and the constraint, never the row).</summary>
public sealed record SetAside(Guid UserId, string Reason);

/// <summary>
/// A replay of everyone that stopped before its end (an HTTP replay whose time for one request ran out, a fault): the
/// next replay of everyone goes on from where it stopped. Done: the share of the users it covered, 0 to 1.
/// </summary>
public sealed record UnfinishedReplay(bool DryRun, DateTimeOffset StartedAt, DateTimeOffset StoppedAt, double Done);

/// <summary>Reads <c>profile_sync.status()</c>, where drift is defined (SQL-only projects call it too), by column name.</summary>
public sealed class DriftReader(NpgsqlDataSource dataSource, IOptions<PassOptions> passes)
{
    public const int DefaultSampleSize = 5;

    /// <summary>The profile fields sync keeps, in the order reports list them.</summary>
    public static readonly IReadOnlyList<string> SyncedFields = ["email", "display_name", "is_active", "attributes"];

    public async Task<DriftReport> ReadAsync(int sampleSize = DefaultSampleSize, CancellationToken cancellationToken = default)
    {
        // A pass over everyone: bounded by the database, as replay's statements are (about half a minute at 10M users).
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var batch = DatabaseResilience.PassBatch(connection, transaction, passes.Value, "select * from profile_sync.status($1)");
        batch.BatchCommands[^1].Parameters.Add(new NpgsqlParameter<int> { TypedValue = sampleSize });
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            "select r.dry_run, r.started_at, r.updated_at, r.last_id from profile_sync.unfinished_replays r order by r.dry_run"));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        long Count(string name) => reader.GetInt64(reader.GetOrdinal(name));
        Guid[] Sample(string name) => reader.GetFieldValue<Guid[]>(reader.GetOrdinal(name));

        var report = new DriftReport(
            AuthUsers: Count("users"),
            Profiles: Count("profiles"),
            UsersWithoutProfile: Count("missing"),
            SampleUsersWithoutProfile: Sample("missing_sample"),
            StaleProfiles: Count("stale"),
            StaleFields: SyncedFields.ToDictionary(field => field, field => Count("stale_" + field)),
            SampleStaleProfiles: Sample("stale_sample"),
            ProfilesWithoutUser: Count("orphaned"),
            SampleProfilesWithoutUser: Sample("orphaned_sample"),
            FailedProfiles: Count("failed"),
            SampleFailedProfiles: [.. Sample("failed_sample").Zip(reader.GetFieldValue<string[]>(reader.GetOrdinal("failed_reasons")), (id, reason) => new SetAside(id, reason))],
            UnfinishedReplays: [],
            Warnings: Warnings(Count("domain_rules"), Count("confirmed_without_proof")));
        await reader.NextResultAsync(cancellationToken);
        var unfinished = new List<UnfinishedReplay>();
        while (await reader.ReadAsync(cancellationToken))
        {
            unfinished.Add(new UnfinishedReplay(reader.GetBoolean(0), reader.GetFieldValue<DateTimeOffset>(1),
                reader.GetFieldValue<DateTimeOffset>(2), ReplayProgress.ShareUpTo(reader.GetGuid(3))));
        }

        report = report with { UnfinishedReplays = unfinished };
        ProfileSyncTelemetry.DriftFound(report.UsersWithoutProfile, report.StaleProfiles, report.ProfilesWithoutUser);
        return report;
    }

    /// <summary>What an operator should know besides the drift: a project that confirms e-mails without mailing anything.</summary>
    private static string[] Warnings(long domainRules, long confirmedWithoutProof) => domainRules > 0 && confirmedWithoutProof > 0
        ? [string.Create(CultureInfo.InvariantCulture,
            $"{confirmedWithoutProof:N0} e-mail users are confirmed without having proven their address (no confirmation was mailed: \"Confirm email\" is off, or an admin confirmed them), so the {domainRules:N0} email_domain rules do not apply to them. Turn on Confirm email (Dashboard → Authentication → Providers → Email; supabase/config.toml [auth.email] enable_confirmations = true), or give such users app_metadata rules set by your backend.")]
        : [];
}
