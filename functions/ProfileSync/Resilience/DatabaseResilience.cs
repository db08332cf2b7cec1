using Npgsql;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using ProfileSync.Telemetry;

namespace ProfileSync.Resilience;

/// <summary>The resilience pipelines every database call of the app goes through: one for events, one for passes.</summary>
public static class DatabaseResilience
{
    /// <summary>Events: one short deadline over all attempts.</summary>
    public const string PipelineName = "profile-sync-database";

    /// <summary>Passes over everyone: the same retries of transient failures, each statement bounded by the database.</summary>
    public const string PassPipelineName = "profile-sync-pass";

    /// <summary>What is worth another attempt: what Npgsql calls transient, a pooler's connection failures, and timeouts.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException postgres when IsPoolerConnectionFailure(postgres) => true,
        // The only foreign key sync writes against is the profile's user: it was deleted while the statement ran.
        // Converging again reads auth.users anew and finds the user gone.
        PostgresException { SqlState: PostgresErrorCodes.ForeignKeyViolation } => true,
        NpgsqlException npgsql => npgsql.IsTransient,
        TimeoutException => true,
        _ => false,
    };

    /// <summary>
    /// A pooler in front of the database that cannot reach it ends the client's connection with a FATAL error that
    /// Npgsql does not call transient: pgbouncer with 08P01 ("server login has been failing"); Supavisor with 08006,
    /// or with XX000 and its own error code in brackets, e.g. "(EDBHANDLEREXITED) DbHandler exited"
    /// (supabase/supavisor lib/supavisor/error.ex, db_handler.ex).
    /// </summary>
    private static bool IsPoolerConnectionFailure(PostgresException exception) =>
        exception.InvariantSeverity == "FATAL"
        && (exception.SqlState.StartsWith("08", StringComparison.Ordinal)
            || (exception.SqlState == PostgresErrorCodes.InternalError && exception.MessageText.StartsWith("(E", StringComparison.Ordinal)));

    /// <summary>Failures that mean "the database is unavailable now": the caller answers 503 and tries later.</summary>
    public static bool IsUnavailable(Exception exception) =>
        exception is TimeoutRejectedException or BrokenCircuitException || IsTransient(exception);

    /// <summary>How long past the deadline a caller still waits for the pipeline to give up by itself.</summary>
    private static readonly TimeSpan DeadlineGrace = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Runs <paramref name="work"/> through the pipeline and stops waiting shortly after <paramref name="deadline"/>
    /// even when the driver does not return once cancelled: a cancelled query to a server that hangs (or to a pooler
    /// waiting for one) waits on a cancel request nobody answers. What is abandoned then ends on its own; being a
    /// convergence, it writes nothing a later one would not.
    /// </summary>
    /// <exception cref="TimeoutRejectedException">the deadline passed</exception>
    public static async Task<TResult> ExecuteWithinDeadlineAsync<TState, TResult>(
        this ResiliencePipeline pipeline,
        TimeSpan deadline,
        Func<TState, CancellationToken, ValueTask<TResult>> work,
        TState state,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        var running = pipeline.ExecuteAsync(work, state, cancellationToken).AsTask();
        using var stopWaiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var finished = await Task.WhenAny(running, Task.Delay(deadline + DeadlineGrace, stopWaiting.Token));
        await stopWaiting.CancelAsync(); // no timer left behind per call
        if (finished != running)
        {
            _ = running.ContinueWith(static task => _ = task.Exception, TaskScheduler.Default); // observed, not awaited
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutRejectedException($"no answer from the database within {deadline.TotalSeconds:0.#} s", deadline);
        }

        return await running;
    }

    /// <summary>
    /// What a log may say about a failure: its type, SQLSTATE and constraint. Never PostgreSQL's message, detail or
    /// context, which can hold row values (e-mails, metadata).
    /// </summary>
    public static string Describe(Exception exception) => exception switch
    {
        PostgresException { ConstraintName: { } constraint } postgres => $"SQLSTATE {postgres.SqlState} on {constraint}",
        PostgresException postgres => $"SQLSTATE {postgres.SqlState}",
        NpgsqlException { InnerException: { } inner } => $"{nameof(NpgsqlException)} ({inner.GetType().Name})",
        TimeoutRejectedException => "deadline passed",
        BrokenCircuitException => "circuit open after repeated failures",
        _ => exception?.GetType().Name ?? "unknown",
    };

    /// <summary>
    /// Prepares a batch of a pass: its statements may run for <paramref name="options"/>' statement timeout, which the
    /// database enforces (so a statement that runs out is stopped where it runs, not abandoned by the client), and the
    /// client waits a little longer than that for the answer.
    /// </summary>
    public static NpgsqlBatch PassBatch(NpgsqlConnection connection, NpgsqlTransaction transaction, PassOptions options, string sql)
    {
        ArgumentNullException.ThrowIfNull(options);
        var batch = new NpgsqlBatch(connection, transaction) { Timeout = (int)Math.Ceiling((options.StatementTimeout + TimeSpan.FromSeconds(30)).TotalSeconds) };
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            $"set local statement_timeout = {(long)options.StatementTimeout.TotalMilliseconds}"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(sql));
        return batch;
    }

    /// <summary>A statement of a pass ran past its budget, as the database (57014 from statement_timeout) or the client reports it.</summary>
    public static bool IsPassBudgetSpent(Exception exception) => exception switch
    {
        PostgresException { SqlState: PostgresErrorCodes.QueryCanceled } => true,
        NpgsqlException { InnerException: TimeoutException } => true,
        _ => false,
    };

    /// <summary>Retries of transient failures, as the event pipeline has them, without its deadline or breaker.</summary>
    public static ResiliencePipelineBuilder ConfigurePasses(ResiliencePipelineBuilder builder, ResilienceOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        // A statement that ran out of its budget would run out again.
        return builder.AddRetry(Retries(options, new PredicateBuilder().Handle<Exception>(e => IsTransient(e) && !IsPassBudgetSpent(e))));
    }

    /// <summary>Exponential back-off with jitter, as the settings say, of what <paramref name="retried"/> handles.</summary>
    private static RetryStrategyOptions Retries(ResilienceOptions options, PredicateBuilder<object> retried) => new()
    {
        ShouldHandle = retried,
        MaxRetryAttempts = options.MaxRetryAttempts,
        Delay = options.RetryBaseDelay,
        MaxDelay = options.RetryMaxDelay,
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        OnRetry = _ =>
        {
            ProfileSyncTelemetry.Retried();
            return default;
        },
    };

    /// <summary>Deadline outermost, so it bounds every retry; the breaker innermost sees each attempt.</summary>
    public static ResiliencePipelineBuilder Configure(ResiliencePipelineBuilder builder, ResilienceOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        var transient = new PredicateBuilder().Handle<Exception>(IsTransient);
        return builder
            .AddTimeout(new TimeoutStrategyOptions { Timeout = options.Deadline })
            .AddRetry(Retries(options, transient))
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = transient,
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakDuration,
                OnOpened = _ => CircuitChanged("open"),
                OnHalfOpened = _ => CircuitChanged("half_open"),
                OnClosed = _ => CircuitChanged("closed"),
            });

        static ValueTask CircuitChanged(string state)
        {
            ProfileSyncTelemetry.CircuitChanged(state);
            return default;
        }
    }
}
