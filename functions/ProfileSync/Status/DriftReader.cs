using Npgsql;
using ProfileSync.Telemetry;

namespace ProfileSync.Status;

/// <summary>
/// How far <c>public.user_profiles</c> has drifted from what <c>auth.users</c>, the defaults and the ownership rules
/// imply. Stale profiles are counted per field too (a profile stale in two fields counts once in the total).
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
    IReadOnlyList<Guid> SampleProfilesWithoutUser)
{
    public bool InSync => UsersWithoutProfile == 0 && StaleProfiles == 0 && ProfilesWithoutUser == 0;
}

public sealed class DriftReader(NpgsqlDataSource dataSource)
{
    public const int DefaultSampleSize = 5;

    /// <summary>The profile fields sync keeps, in the order reports list them.</summary>
    public static readonly IReadOnlyList<string> SyncedFields = ["email", "display_name", "is_active", "attributes"];

    public async Task<DriftReport> ReadAsync(int sampleSize = DefaultSampleSize, CancellationToken cancellationToken = default)
    {
        // One pass over the users counts everything the state view knows; the samples are looked up only when there
        // is drift. One snapshot, so the numbers agree with each other.
        const string countsSql = """
            select count(*), count(*) filter (where not s.has_profile), count(*) filter (where s.stale_fields <> '{}'),
                   count(*) filter (where 'email' = any(s.stale_fields)),
                   count(*) filter (where 'display_name' = any(s.stale_fields)),
                   count(*) filter (where 'is_active' = any(s.stale_fields)),
                   count(*) filter (where 'attributes' = any(s.stale_fields)),
                   (select count(*) from public.user_profiles),
                   (select count(*) from public.user_profiles p where not exists (select 1 from auth.users u where u.id = p.user_id))
            from profile_sync.profile_state s
            """;
        const string missingSampleSql = """
            select s.user_id from profile_sync.profile_state s where not s.has_profile
            order by s.created_at desc nulls last, s.user_id limit $1
            """;
        const string staleSampleSql = """
            select s.user_id from profile_sync.profile_state s where s.stale_fields <> '{}'
            order by s.source_updated_at desc nulls last, s.user_id limit $1
            """;
        const string orphanSampleSql = """
            select p.user_id from public.user_profiles p
            where not exists (select 1 from auth.users u where u.id = p.user_id)
            order by p.created_at desc, p.user_id limit $1
            """;

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        long authUsers, missing, stale, profiles, orphans;
        var staleFields = new Dictionary<string, long>();
        await using (var counts = new NpgsqlCommand(countsSql, connection, transaction))
        await using (var reader = await counts.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (authUsers, missing, stale) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
            for (var i = 0; i < SyncedFields.Count; i++)
            {
                staleFields[SyncedFields[i]] = reader.GetInt64(3 + i);
            }

            (profiles, orphans) = (reader.GetInt64(7), reader.GetInt64(8));
        }

        var missingSample = missing == 0 ? [] : await SampleAsync(connection, transaction, missingSampleSql, sampleSize, cancellationToken);
        var staleSample = stale == 0 ? [] : await SampleAsync(connection, transaction, staleSampleSql, sampleSize, cancellationToken);
        var orphanSample = orphans == 0 ? [] : await SampleAsync(connection, transaction, orphanSampleSql, sampleSize, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        ProfileSyncTelemetry.DriftFound(missing, stale, orphans);
        return new DriftReport(authUsers, profiles, missing, missingSample, stale, staleFields, staleSample, orphans, orphanSample);
    }

    private static async Task<Guid[]> SampleAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, int size, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = size });
        var ids = new List<Guid>(size);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return [.. ids];
    }
}
