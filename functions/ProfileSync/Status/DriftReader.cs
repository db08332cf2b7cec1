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
        // One snapshot, so the numbers agree with each other. Samples show the newest first.
        const string sql = """
            select
              (select count(*) from auth.users),
              (select count(*) from public.user_profiles),
              (select count(*) from auth.users u
                where not exists (select 1 from public.user_profiles p where p.user_id = u.id)),
              array(select u.id from auth.users u
                     where not exists (select 1 from public.user_profiles p where p.user_id = u.id)
                     order by u.created_at desc nulls last, u.id limit $1),
              (select count(*) from public.user_profiles p
                where not exists (select 1 from auth.users u where u.id = p.user_id)),
              array(select p.user_id from public.user_profiles p
                     where not exists (select 1 from auth.users u where u.id = p.user_id)
                     order by p.created_at desc, p.user_id limit $1)
            """;
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = sampleSize });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new DriftReport(
            AuthUsers: reader.GetInt64(0),
            Profiles: reader.GetInt64(1),
            UsersWithoutProfile: reader.GetInt64(2),
            SampleUsersWithoutProfile: reader.GetFieldValue<Guid[]>(3),
            ProfilesWithoutUser: reader.GetInt64(4),
            SampleProfilesWithoutUser: reader.GetFieldValue<Guid[]>(5));
    }
}
