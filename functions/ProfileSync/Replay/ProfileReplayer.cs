using System.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Polly;
using Polly.Registry;
using ProfileSync.Resilience;
using ProfileSync.Telemetry;

namespace ProfileSync.Replay;

/// <summary>
/// Converges every profile in scope through the database's convergence statements (profile_sync.converge for some
/// users, profile_sync.converge_range for a range of everyone): creates what is missing (<c>created_via = 'replay'</c>),
/// refreshes what is stale, removes profiles whose user is gone. Set-based, in batches keyed by user id, each committed
/// on its own (short locks; safe to stop and run again), in constant memory. One replay at a time, by an advisory lock.
/// A replay of everyone that stopped before its end (a time budget, a fault) is gone on with by the next one.
/// </summary>
public sealed class ProfileReplayer(NpgsqlDataSource dataSource, ResiliencePipelineProvider<string> pipelines, IOptions<PassOptions> passes)
{
    // An arbitrary constant that names "profile replay" among advisory locks.
    private const long LockKey = 0x5052_4F46_5245_504C; // "PROFREPL"

    // A replay of everyone goes through the users in id ranges of a batch each: profile_sync.replay_range() converges
    // every user in (after, the batch's last user] and removes the profiles in it whose user is gone, as one plain
    // statement (a range of the primary key, no per-id lookups), and keeps the replay's progress in
    // profile_sync.unfinished_replays. The last range is open-ended. last_id null: that was the last batch.
    private const string RangeBatchSql = "select * from profile_sync.replay_range($1, $2, $3)";

    // Where an earlier replay of everyone of the same kind (run or dry run) stopped, if one did.
    private const string UnfinishedSql = "select r.last_id from profile_sync.unfinished_replays r where r.dry_run = $1";

    // A scoped replay's batch (some users, or those created in a window) hands its users to profile_sync.converge(),
    // which reads each once under its lock and writes what drifted; its outcomes are the counts (on a dry run, what it
    // would do). The batch covers the id range (after, last user]: profiles in that range whose id was asked for and
    // whose user is gone are its orphans (the last batch's range is open-ended). A created_at window cannot match
    // orphans. Same column names as profile_sync.reconcile().
    private const string ScopedBatchSql = """
        with ids as materialized (
          select u.id
          from auth.users u
          where u.id > $1
            and ($3::uuid[] is null or u.id = any($3))
            and ($4::timestamptz is null or u.created_at >= $4)
            and ($5::timestamptz is null or u.created_at < $5)
          order by u.id
          limit $2
        ), bounds as (
          select (select i.id from ids i order by i.id desc limit 1) as last_id,
                 (select count(*) from ids) as scanned, (select count(*) from ids) < $2 as final
        ), orphans as (
          select o.user_id
          from profile_sync.orphaned_profiles o, bounds
          where o.user_id > $1 and (bounds.final or o.user_id <= bounds.last_id)
            and ($3::uuid[] is null or o.user_id = any($3))
            and $4::timestamptz is null and $5::timestamptz is null
        ), converged as materialized (
          select c.user_id, c.outcome
          from profile_sync.converge(array(select i.id from ids i union all select o.user_id from orphans o), 'replay', $6) c
        ), outcomes as (
          -- A user set aside counts as what it was found to be (this statement reads the profiles as they were).
          select count(*) filter (where c.outcome = 'created') as created,
                 count(*) filter (where c.outcome = 'updated') as updated,
                 count(*) filter (where c.outcome = 'deleted') as deleted,
                 count(*) filter (where c.outcome = 'failed') as failed,
                 count(*) filter (where c.outcome = 'failed' and c.user_id in (select o.user_id from orphans o)) as failed_orphaned,
                 count(*) filter (where c.outcome = 'failed'
                                    and not exists (select 1 from public.user_profiles p where p.user_id = c.user_id)) as failed_missing
          from converged c
        )
        -- What the batch found missing, stale and orphaned is what it created, refreshed and removed, and what it set
        -- aside (nothing is written on a dry run).
        select case when not bounds.final then bounds.last_id end as last_id, bounds.scanned as users,
               c.created + c.failed_missing as missing, c.updated + c.failed - c.failed_missing - c.failed_orphaned as stale,
               c.deleted + c.failed_orphaned as orphaned,
               case when $6 then 0 else c.created end as created, case when $6 then 0 else c.updated end as refreshed,
               case when $6 then 0 else c.deleted end as removed, c.failed,
               array(select f.user_id from converged f where f.outcome = 'failed' order by f.user_id limit 5) as failed_sample
        from bounds, outcomes c
        """;

    // Not an event's deadline: a pass's statements are bounded each by the database (ProfileSync__Passes__StatementTimeout).
    private readonly ResiliencePipeline _pipeline = pipelines.GetPipeline(DatabaseResilience.PassPipelineName);

    public async Task<ReplayReport> RunAsync(ReplayRequest request, IProgress<ReplayProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            var report = await RunLockedAsync(request, progress, cancellationToken);
            ProfileSyncTelemetry.ReplayRan(request.Trigger, request.DryRun, report.Complete ? "completed" : "unfinished", report.Created, report.Refreshed, report.Removed);
            if (request.CoversEveryone && report.Complete)
            {
                ProfileSyncTelemetry.DriftFound(report.Missing, report.Stale, report.Orphaned);
            }

            return report;
        }
        catch (ReplayAlreadyRunningException)
        {
            ProfileSyncTelemetry.ReplayRan(request.Trigger, request.DryRun, "busy", 0, 0, 0);
            throw;
        }
        catch (Exception)
        {
            // What the committed batches changed is not counted here: a replay of everyone goes on from them next time
            // (profile_sync.unfinished_replays), and a scoped one's next run counts what is left.
            ProfileSyncTelemetry.ReplayRan(request.Trigger, request.DryRun, "failed", 0, 0, 0);
            throw;
        }
    }

    private async Task<ReplayReport> RunLockedAsync(ReplayRequest request, IProgress<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(request.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.BatchSize, ReplayRequest.MaxBatchSize);
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
        var counts = ReplayCounts.None;
        var resumed = false;
        if (request.CoversEveryone)
        {
            await EnsureLockHeldAsync(lockConnection, lockTransaction, cancellationToken);
            var stoppedAt = await _pipeline.ExecuteAsync(
                static async (state, token) => await state.self.ReadUnfinishedAsync(state.request.DryRun, token),
                (self: this, request),
                cancellationToken);
            if (stoppedAt is { } last)
            {
                // An earlier replay of everyone stopped there: go on from it.
                (after, resumed) = (last, true);
            }
            else
            {
                using var pass = ProfileSyncTelemetry.StartReplayStep("pass", 0);
                var whole = await _pipeline.ExecuteAsync(
                    static async (state, token) => await state.self.RunWholeAsync(state.request, token),
                    (self: this, request),
                    cancellationToken);
                ProfileSyncTelemetry.ReplayStepDone(pass, whole?.Scanned ?? 0, whole is { } w ? w.Created + w.Refreshed + w.Removed : 0);
                if (whole is { } all)
                {
                    progress?.Report(new ReplayProgress(1, all, clock.Elapsed, Done: 1));
                    await lockTransaction.CommitAsync(cancellationToken);
                    return new ReplayReport(all, request.DryRun, clock.ElapsedMilliseconds);
                }
            }
        }

        var batches = 0;
        var longestBatch = TimeSpan.Zero;
        while (true)
        {
            // Room for one more batch, at the pace of the slowest so far? Else stop here: what is done is committed,
            // and the next replay of everyone goes on from it.
            if (request.TimeBudget is { } budget && longestBatch > TimeSpan.Zero && clock.Elapsed + longestBatch > budget)
            {
                await lockTransaction.CommitAsync(cancellationToken);
                return new ReplayReport(counts, request.DryRun, clock.ElapsedMilliseconds, complete: false, resumed, Done(request.Scope, counts, after));
            }

            await EnsureLockHeldAsync(lockConnection, lockTransaction, cancellationToken);
            using var step = ProfileSyncTelemetry.StartReplayStep("batch", batches + 1);
            var started = clock.Elapsed;
            var batch = await _pipeline.ExecuteAsync(
                static async (state, token) => await state.self.RunBatchAsync(state.request, state.after, token),
                (self: this, request, after),
                cancellationToken);
            longestBatch = TimeSpan.FromTicks(Math.Max(longestBatch.Ticks, (clock.Elapsed - started).Ticks));
            ProfileSyncTelemetry.ReplayStepDone(step, batch.Counts.Scanned, batch.Counts.Created + batch.Counts.Refreshed + batch.Counts.Removed);
            counts = counts.Add(batch.Counts);
            if (batch.Counts.Scanned > 0 || batch.Counts.Orphaned > 0)
            {
                batches++;
                progress?.Report(new ReplayProgress(batches, counts, clock.Elapsed, batch.LastId is { } last ? Done(request.Scope, counts, last) : 1));
            }

            if (batch.LastId is not { } next)
            {
                break;
            }

            after = next;
        }

        await lockTransaction.CommitAsync(cancellationToken);
        return new ReplayReport(counts, request.DryRun, clock.ElapsedMilliseconds, complete: true, resumed);
    }

    private static double Done(ReplayScope scope, ReplayCounts counts, Guid lastId) =>
        scope.UserIds is { Count: > 0 } ids ? Math.Min(1, (double)counts.Scanned / ids.Count) : ReplayProgress.ShareUpTo(lastId);

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

    /// <summary>
    /// The first pass of a replay of everyone: <c>profile_sync.reconcile</c>, which looks at everyone in one pass of
    /// hash joins, as status does (on a project in sync, that is all there is to do), and converges what drifted when
    /// it fits in a batch; it stops looking as soon as more drifted (an adoption's pass is then over at once). Batches
    /// by id visit the heap in id order, which for random UUIDs is random: about 6 times slower than this pass at 1M
    /// users in sync.
    /// </summary>
    /// <returns>what the pass found and did, or null when more than a batch drifted (then the batches run)</returns>
    private async Task<ReplayCounts?> RunWholeAsync(ReplayRequest request, CancellationToken cancellationToken)
    {
        var (converged, counts) = await ExecuteAsync("select * from profile_sync.reconcile($1, $2)", parameters =>
        {
            parameters.Add(new NpgsqlParameter<bool> { TypedValue = request.DryRun });
            parameters.Add(new NpgsqlParameter<long> { TypedValue = request.BatchSize });
        }, static reader => reader.GetBoolean(reader.GetOrdinal("converged")), cancellationToken);
        return converged ? counts : null;
    }

    private async Task<Guid?> ReadUnfinishedAsync(bool dryRun, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(UnfinishedSql);
        command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = dryRun });
        return await command.ExecuteScalarAsync(cancellationToken) as Guid?;
    }

    private async Task<Batch> RunBatchAsync(ReplayRequest request, Guid after, CancellationToken cancellationToken)
    {
        var scoped = !request.CoversEveryone;
        var (lastId, counts) = await ExecuteAsync(scoped ? ScopedBatchSql : RangeBatchSql, parameters =>
        {
            parameters.Add(new NpgsqlParameter<Guid> { TypedValue = after });
            parameters.Add(new NpgsqlParameter<int> { TypedValue = request.BatchSize });
            if (scoped)
            {
                parameters.Add(new NpgsqlParameter
                {
                    NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid,
                    Value = (object?)request.Scope.UserIds?.ToArray() ?? DBNull.Value,
                });
                parameters.Add(SqlParameters.Timestamp(request.Scope.CreatedAfter));
                parameters.Add(SqlParameters.Timestamp(request.Scope.CreatedBefore));
            }

            parameters.Add(new NpgsqlParameter<bool> { TypedValue = request.DryRun });
        }, static reader => reader.GetFieldValue<Guid?>(reader.GetOrdinal("last_id")), cancellationToken);
        return new Batch(lastId, counts);
    }

    /// <summary>
    /// Runs one of the replay's statements in a transaction of its own, and reads its counts by the names
    /// <c>profile_sync.reconcile()</c> gives them (users, missing, stale, orphaned, created, refreshed, removed, failed,
    /// failed_sample).
    /// </summary>
    private async Task<(T First, ReplayCounts Counts)> ExecuteAsync<T>(
        string sql, Action<NpgsqlParameterCollection> parameters, Func<NpgsqlDataReader, T> first, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var batch = DatabaseResilience.PassBatch(connection, transaction, passes.Value, sql);
        // Compiling each batch's plan with JIT costs more than the batch saves.
        batch.BatchCommands.Insert(0, new NpgsqlBatchCommand("set local jit = off"));
        parameters(batch.BatchCommands[^1].Parameters);

        (T, ReplayCounts) result;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            // The first pass has no counts when more drifted than it converges (the batches count).
            long Count(string name) => reader.GetFieldValue<long?>(reader.GetOrdinal(name)) ?? 0;
            var failed = reader.GetOrdinal("failed_sample");
            result = (first(reader), new ReplayCounts(
                Scanned: Count("users"), Missing: Count("missing"), Created: Count("created"), Stale: Count("stale"),
                Refreshed: Count("refreshed"), Orphaned: Count("orphaned"), Removed: Count("removed"), Failed: Count("failed"),
                FailedUserIds: reader.IsDBNull(failed) ? [] : reader.GetFieldValue<Guid[]>(failed)));
        }

        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    private readonly record struct Batch(Guid? LastId, ReplayCounts Counts); // LastId null: the last batch
}
