using Npgsql;

namespace ProfileSync.Status;

/// <summary>How far <c>public.user_profiles</c> has drifted from <c>auth.users</c>.</summary>
public sealed record DriftReport(
    long AuthUsers,
    long Profiles,
    long UsersWithoutProfile,
    IReadOnlyList<Guid> SampleUsersWithoutProfile,
    long ProfilesWithoutUser,
    IReadOnlyList<Guid> SampleProfilesWithoutUser)
{
    public bool InSync => UsersWithoutProfile == 0 && ProfilesWithoutUser == 0;
}

public sealed class DriftReader(NpgsqlDataSource dataSource)
{
    public const int DefaultSampleSize = 5;

    public async Task<DriftReport> ReadAsync(int sampleSize = DefaultSampleSize, CancellationToken cancellationToken = default)
    {
        // One pass counts everything; the samples are looked up only when there is drift. One snapshot, so the
        // numbers agree with each other.
        const string countsSql = """
            select count(u.id), count(p.user_id),
                   count(*) filter (where p.user_id is null),
                   count(*) filter (where u.id is null)
            from auth.users u
            full join public.user_profiles p on p.user_id = u.id
            """;
        const string missingSampleSql = """
            select u.id from auth.users u
            where not exists (select 1 from public.user_profiles p where p.user_id = u.id)
            order by u.created_at desc nulls last, u.id limit $1
            """;
        const string orphanSampleSql = """
            select p.user_id from public.user_profiles p
            where not exists (select 1 from auth.users u where u.id = p.user_id)
            order by p.created_at desc, p.user_id limit $1
            """;

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        long authUsers, profiles, missing, orphans;
        await using (var counts = new NpgsqlCommand(countsSql, connection, transaction))
        await using (var reader = await counts.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (authUsers, profiles, missing, orphans) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }

        var missingSample = missing == 0 ? [] : await SampleAsync(connection, transaction, missingSampleSql, sampleSize, cancellationToken);
        var orphanSample = orphans == 0 ? [] : await SampleAsync(connection, transaction, orphanSampleSql, sampleSize, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new DriftReport(authUsers, profiles, missing, missingSample, orphans, orphanSample);
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
