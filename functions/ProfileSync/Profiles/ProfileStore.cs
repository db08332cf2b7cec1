using System.Diagnostics;
using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;
using ProfileSync.Events;
using ProfileSync.Resilience;
using ProfileSync.Telemetry;

namespace ProfileSync.Profiles;

/// <summary>Converges the profile of an event's user. The seam the handler's unit tests replace.</summary>
public interface IProfileStore
{
    Task<ProfileOutcome> ApplyAsync(AuthEvent authEvent, CancellationToken cancellationToken);

    /// <summary>Converges the users of a bulk event in one call of the convergence statement.</summary>
    Task<BulkOutcome> ApplyManyAsync(BulkAuthEvent bulk, CancellationToken cancellationToken);
}

/// <summary>
/// An event is a notification that its user changed: the profile is converged from auth.users as it is now, by the
/// database's one convergence statement. So duplicates, reordering and concurrent deliveries all end in the same
/// profile, and nothing in the body but the user id is used.
/// <para>
/// Events that arrive together are converged together: a few workers each take every event waiting and call the
/// statement once for all their users, sharing its round trip, its lock statement and its commit. The statement
/// takes any set of ids, locks them in order and reads auth.users after the locks, so a shared call ends exactly
/// as separate ones would. One event alone is not delayed: a worker that is free takes it at once.
/// </para>
/// </summary>
public sealed class ProfileStore : IProfileStore, IDisposable
{
    private const string ConvergeSql = "select c.user_id, c.outcome from profile_sync.converge($1, 'webhook') c";
    private const string ConvergeManySql = "select c.outcome, count(*)::int from profile_sync.converge($1, 'webhook') c group by c.outcome";

    // Two calls in flight keep the database busy; beyond that, events wait and join the next call, which is cheaper
    // than another call (measured with 16 senders on 2 cores: 4 workers 0.60x raw upserts, 2 workers 0.81x).
    private const int Workers = 2;
    private const int MaxUsersPerCall = 500;

    private readonly NpgsqlDataSource _dataSource;
    private readonly Channel<Waiting> _waiting = Channel.CreateUnbounded<Waiting>();
    public ProfileStore(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
        for (var i = 0; i < Workers; i++)
        {
            _ = Task.Run(WorkAsync);
        }
    }

    public async Task<ProfileOutcome> ApplyAsync(AuthEvent authEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authEvent);
        var waiting = new Waiting(authEvent.UserId, new TaskCompletionSource<ProfileOutcome>(TaskCreationOptions.RunContinuationsAsynchronously),
            Activity.Current?.Context ?? default);
        await _waiting.Writer.WriteAsync(waiting, cancellationToken);
        var outcome = await waiting.Outcome.Task.WaitAsync(cancellationToken);
        // Neither a user nor a profile: what a delete asks for is already so; any other event came too late (or, for
        // a before-user-created hook, too early).
        return outcome != ProfileOutcome.Absent ? outcome
            : authEvent.Type == AuthEventType.Delete ? ProfileOutcome.Deleted : ProfileOutcome.Ignored;
    }

    // Up to a thousand users that one transaction changed: one call of their own, already as large as the workers' calls.
    public async Task<BulkOutcome> ApplyManyAsync(BulkAuthEvent bulk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bulk);
        await using var command = _dataSource.CreateCommand(ConvergeManySql);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid, Value = bulk.UserIds.ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var counts = new Dictionary<ProfileOutcome, int>();
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[ProfileOutcomes.Parse(reader.GetString(0))] = reader.GetInt32(1);
        }

        int Count(ProfileOutcome outcome) => counts.GetValueOrDefault(outcome);
        return new BulkOutcome(bulk.UserIds.Count, Count(ProfileOutcome.Created), Count(ProfileOutcome.Updated), Count(ProfileOutcome.Unchanged),
            Count(ProfileOutcome.Deleted), Count(ProfileOutcome.Absent), Count(ProfileOutcome.Failed));
    }

    // The workers end once what is waiting is done.
    public void Dispose() => _waiting.Writer.TryComplete();

    private async Task WorkAsync()
    {
        // Started inside whatever request first needed the store: its span is not the parent of every call after.
        Activity.Current = null;
        var call = new List<Waiting>(MaxUsersPerCall);
        while (await _waiting.Reader.WaitToReadAsync())
        {
            call.Clear();
            while (call.Count < MaxUsersPerCall && _waiting.Reader.TryRead(out var waiting))
            {
                call.Add(waiting);
            }

            if (call.Count == 0)
            {
                continue;
            }

            // One span per shared call, under the first event's span and linked to the others': each event's trace
            // reaches the call and Npgsql's command span that converged its user.
            using var span = ProfileSyncTelemetry.StartConvergence(call.Select(w => w.Caller), call.Count);
            try
            {
                Answer(call, await ConvergeAsync(call.Select(w => w.UserId).Distinct()));
            }
            catch (Exception e) when (call.Count > 1 && !DatabaseResilience.IsTransient(e))
            {
                // One user's failure must not fail the others: each goes alone, and fails alone if it must.
                foreach (var waiting in call)
                {
                    try
                    {
                        Answer([waiting], await ConvergeAsync([waiting.UserId]));
                    }
                    catch (Exception alone)
                    {
                        waiting.Outcome.TrySetException(alone);
                    }
                }
            }
            catch (Exception e)
            {
                // Transient: every event of the call is retried by its own pipeline.
                foreach (var waiting in call)
                {
                    waiting.Outcome.TrySetException(e);
                }
            }
        }
    }

    private async Task<Dictionary<Guid, ProfileOutcome>> ConvergeAsync(IEnumerable<Guid> userIds)
    {
        await using var command = _dataSource.CreateCommand(ConvergeSql);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid, Value = userIds.ToArray() });
        await using var reader = await command.ExecuteReaderAsync();
        var outcomes = new Dictionary<Guid, ProfileOutcome>();
        while (await reader.ReadAsync())
        {
            outcomes[reader.GetGuid(0)] = ProfileOutcomes.Parse(reader.GetString(1));
        }

        return outcomes;
    }

    // The same user twice in one call: the first event did the work; for the next, as if it came just after, nothing
    // was left to create or update.
    private static void Answer(List<Waiting> call, Dictionary<Guid, ProfileOutcome> outcomes)
    {
        var answered = new HashSet<Guid>();
        foreach (var waiting in call)
        {
            var outcome = outcomes[waiting.UserId];
            waiting.Outcome.TrySetResult(!answered.Add(waiting.UserId) && outcome is ProfileOutcome.Created or ProfileOutcome.Updated
                ? ProfileOutcome.Unchanged
                : outcome);
        }
    }

    private sealed record Waiting(Guid UserId, TaskCompletionSource<ProfileOutcome> Outcome, ActivityContext Caller);
}
