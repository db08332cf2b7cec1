using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;
using Polly;
using Polly.Registry;
using ProfileSync.Resilience;

namespace ProfileSync.Replay;

/// <summary>Which users a replay looks at. No user ids and no window: all of them.</summary>
public sealed record ReplayScope(
    IReadOnlyList<Guid>? UserIds = null,
    DateTimeOffset? CreatedAfter = null,
    DateTimeOffset? CreatedBefore = null);

public sealed record ReplayRequest(ReplayScope Scope, bool DryRun = false, int BatchSize = ProfileReplayer.DefaultBatchSize);

/// <summary>scanned: users looked at; missing: of those, without a profile; created: profiles this replay made.</summary>
public sealed record ReplayReport(long Scanned, long Missing, long Created, bool DryRun, long ElapsedMs);

public sealed record ReplayProgress(int Batches, long Scanned, long Missing, long Created, TimeSpan Elapsed);

/// <summary>Another replay holds the lock; this one did nothing.</summary>
public sealed class ReplayAlreadyRunningException() : Exception("another replay is running; try again when it has finished");

/// <summary>The connection holding the lock died (database restart): what was committed stays; run the replay again.</summary>
public sealed class ReplayLockLostException(Exception inner)
    : Exception("the replay lost its lock (the database connection was reset); the batches done are kept: run the replay again", inner);

/// <summary>
/// Creates the profiles that are missing, with the same rules as every other path (<c>created_via = 'replay'</c>):
/// set-based, in batches keyed by user id, each committed on its own (short locks; safe to stop and run again),
/// in constant memory. One replay at a time, by an advisory lock.
/// </summary>
public sealed class ProfileReplayer(NpgsqlDataSource dataSource, ResiliencePipelineProvider<string> pipelines)
{
    public const int DefaultBatchSize = 10_000;
    public const int MaxBatchSize = 100_000;

    // An arbitrary constant that names "profile replay" among advisory locks.
    private const long LockKey = 0x5052_4F46_5245_504C; // "PROFREPL"

    // One pass over the batch's users: the rules (display name, active flag) are computed only for the ones missing
    // a profile, and the insert takes its rows from that same pass.
    private const string BatchSql = """
        with batch as (
          select a.user_id, p.found is null as missing, a.email, a.source_updated_at,
                 case when p.found is null then a.display_name end as display_name,
                 case when p.found is null then a.is_active end as is_active
          from profile_sync.auth_user_profiles a
          -- One index probe per user of the batch; "offset 0" keeps the planner from turning it into a join over
          -- every profile, which would make each batch cost as much as the whole table.
          left join lateral (select 1 as found from public.user_profiles p where p.user_id = a.user_id offset 0) p on true
          where a.user_id > $1
            and ($3::uuid[] is null or a.user_id = any($3))
            and ($4::timestamptz is null or a.created_at >= $4)
            and ($5::timestamptz is null or a.created_at < $5)
          order by a.user_id
          limit $2
        ), created as (
          insert into public.user_profiles (user_id, email, display_name, is_active, source_updated_at, created_via)
          select b.user_id, b.email, b.display_name, b.is_active, b.source_updated_at, 'replay'
          from batch b
          where b.missing and not $6
          on conflict (user_id) do nothing
          returning 1
        )
        select (select b.user_id from batch b order by b.user_id desc limit 1),
               (select count(*) from batch),
               (select count(*) from batch b where b.missing),
               (select count(*) from created)
        """;

    private readonly ResiliencePipeline _pipeline = pipelines.GetPipeline(DatabaseResilience.PipelineName);

    public async Task<ReplayReport> RunAsync(ReplayRequest request, IProgress<ReplayProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.BatchSize, MaxBatchSize);
        var clock = Stopwatch.StartNew();

        // The lock lives in a transaction held open for the whole replay: a transaction-mode pooler keeps the
        // same server connection for it, and it is released however the replay ends.
        await using var lockConnection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var lockTransaction = await lockConnection.BeginTransactionAsync(cancellationToken);
        await using (var tryLock = new NpgsqlCommand("select pg_try_advisory_xact_lock($1)", lockConnection, lockTransaction))
        {
            tryLock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = LockKey });
            if (!(bool)(await tryLock.ExecuteScalarAsync(cancellationToken))!)
            {
                throw new ReplayAlreadyRunningException();
            }
        }

        var after = Guid.Empty;
        long scanned = 0, missing = 0, created = 0;
        var batches = 0;
        while (true)
        {
            await EnsureLockHeldAsync(lockConnection, lockTransaction, cancellationToken);
            var batch = await _pipeline.ExecuteAsync(
                static async (state, token) => await state.self.RunBatchAsync(state.request, state.after, token),
                (self: this, request, after),
                cancellationToken);
            if (batch.Scanned == 0)
            {
                break;
            }

            batches++;
            scanned += batch.Scanned;
            missing += batch.Missing;
            created += batch.Created;
            after = batch.LastId;
            progress?.Report(new ReplayProgress(batches, scanned, missing, created, clock.Elapsed));
            if (batch.Scanned < request.BatchSize)
            {
                break;
            }
        }

        await lockTransaction.CommitAsync(cancellationToken);
        return new ReplayReport(scanned, missing, created, request.DryRun, clock.ElapsedMilliseconds);
    }

    // Without the lock another replay could start; both would still be correct, but one at a time is the promise.
    private static async Task EnsureLockHeldAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        try
        {
            await using var check = new NpgsqlCommand("select 1", connection, transaction);
            await check.ExecuteScalarAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            throw new ReplayLockLostException(e);
        }
    }

    private async Task<Batch> RunBatchAsync(ReplayRequest request, Guid after, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection, transaction);
        // Compiling each batch's plan with JIT costs more than the batch saves (measured: docs/benchmarks.md).
        batch.BatchCommands.Add(new NpgsqlBatchCommand("set local jit = off"));
        var command = new NpgsqlBatchCommand(BatchSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = after });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = request.BatchSize });
        command.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid,
            Value = (object?)request.Scope.UserIds?.ToArray() ?? DBNull.Value,
        });
        command.Parameters.Add(SqlParameters.Timestamp(request.Scope.CreatedAfter));
        command.Parameters.Add(SqlParameters.Timestamp(request.Scope.CreatedBefore));
        command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = request.DryRun });
        batch.BatchCommands.Add(command);

        Batch result;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            result = reader.IsDBNull(0)
                ? default
                : new Batch(reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }

        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    private readonly record struct Batch(Guid LastId, long Scanned, long Missing, long Created);
}
