using Npgsql;
using NpgsqlTypes;
using ProfileSync.Events;

namespace ProfileSync.Profiles;

/// <summary>Applies one auth event to public.user_profiles. The seam the handler's unit tests replace.</summary>
public interface IProfileStore
{
    Task<ProfileOutcome> ApplyAsync(AuthEvent authEvent, CancellationToken cancellationToken);
}

/// <summary>
/// One statement per event, no read-then-write: duplicates, reordering and concurrent deliveries converge on the
/// state in-order delivery gives. The rules (display name, active flag, default attributes) are the database's own.
/// </summary>
public sealed class ProfileStore(NpgsqlDataSource dataSource) : IProfileStore
{
    // Create when missing; otherwise sync only if the event is newer than what was last applied.
    // Never touches attributes. Nothing is written for a user auth.users no longer has.
    private const string UpsertSql = """
        with upserted as (
          insert into public.user_profiles as p (user_id, email, display_name, is_active, source_updated_at, created_via)
          select $1, $2, profile_sync.display_name($4, $2, $3), profile_sync.is_active($5, $6), $7, 'webhook'
          where exists (select 1 from auth.users u where u.id = $1)
          on conflict (user_id) do update
            set email = excluded.email,
                display_name = excluded.display_name,
                is_active = excluded.is_active,
                source_updated_at = excluded.source_updated_at
            where p.source_updated_at is null
               or (excluded.source_updated_at is not null and excluded.source_updated_at > p.source_updated_at)
          returning (xmax = 0) as created
        )
        select (select created from upserted), exists (select 1 from auth.users u where u.id = $1)
        """;

    // Only once the user is really gone: a stray DELETE never removes a live user's profile.
    private const string DeleteSql = """
        with deleted as (
          delete from public.user_profiles p
          where p.user_id = $1 and not exists (select 1 from auth.users u where u.id = $1)
          returning 1
        )
        select (select count(*) from deleted), exists (select 1 from auth.users u where u.id = $1)
        """;

    public async Task<ProfileOutcome> ApplyAsync(AuthEvent authEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authEvent);
        return authEvent.Type == AuthEventType.Delete
            ? await DeleteAsync(authEvent.UserId, cancellationToken)
            : await UpsertAsync(authEvent.User!, cancellationToken);
    }

    private async Task<ProfileOutcome> UpsertAsync(AuthUser user, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(UpsertSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = user.Id });
        command.Parameters.Add(SqlParameters.Text(user.Email));
        command.Parameters.Add(SqlParameters.Text(user.Phone));
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = (object?)user.UserMetadataJson ?? DBNull.Value });
        command.Parameters.Add(SqlParameters.Timestamp(user.BannedUntil));
        command.Parameters.Add(SqlParameters.Timestamp(user.DeletedAt));
        command.Parameters.Add(SqlParameters.Timestamp(user.UpdatedAt));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        if (!reader.GetBoolean(1))
        {
            return ProfileOutcome.Ignored;
        }

        if (reader.IsDBNull(0))
        {
            return ProfileOutcome.Unchanged;
        }

        return reader.GetBoolean(0) ? ProfileOutcome.Created : ProfileOutcome.Updated;
    }

    private async Task<ProfileOutcome> DeleteAsync(Guid userId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(DeleteSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = userId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetBoolean(1) ? ProfileOutcome.Ignored : ProfileOutcome.Deleted;
    }
}
