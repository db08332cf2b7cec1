using Npgsql;
using ProfileSync.Events;

namespace ProfileSync.Profiles;

/// <summary>Converges the profile of an event's user. The seam the handler's unit tests replace.</summary>
public interface IProfileStore
{
    Task<ProfileOutcome> ApplyAsync(AuthEvent authEvent, CancellationToken cancellationToken);
}

/// <summary>
/// An event is a notification that its user changed: the profile is converged from auth.users as it is now, by the
/// database's one convergence statement. So duplicates, reordering and concurrent deliveries all end in the same
/// profile, and nothing in the body but the user id is used.
/// </summary>
public sealed class ProfileStore(NpgsqlDataSource dataSource) : IProfileStore
{
    private const string ConvergeSql = "select c.outcome from profile_sync.converge(array[$1], 'webhook') c";

    public async Task<ProfileOutcome> ApplyAsync(AuthEvent authEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authEvent);
        await using var command = dataSource.CreateCommand(ConvergeSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = authEvent.UserId });
        var outcome = (string?)await command.ExecuteScalarAsync(cancellationToken);
        return outcome switch
        {
            "created" => ProfileOutcome.Created,
            "updated" => ProfileOutcome.Updated,
            "unchanged" => ProfileOutcome.Unchanged,
            "deleted" => ProfileOutcome.Deleted,
            // Neither a user nor a profile: what a delete asks for is already so; any other event came too late
            // (or, for a before-user-created hook, too early).
            "absent" => authEvent.Type == AuthEventType.Delete ? ProfileOutcome.Deleted : ProfileOutcome.Ignored,
            _ => throw new InvalidOperationException($"profile_sync.converge answered an unknown outcome '{outcome}'"),
        };
    }
}
