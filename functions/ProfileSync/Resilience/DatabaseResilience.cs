using Npgsql;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using ProfileSync.Telemetry;

namespace ProfileSync.Resilience;

/// <summary>Settings of the database pipeline: <c>ProfileSync__Resilience__*</c>.</summary>
public sealed class ResilienceOptions
{
    /// <summary>One deadline over all attempts. Supabase Auth gives a hook 5 s in total.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(4);

    public int MaxRetryAttempts { get; set; } = 10;

    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(1);

    public double BreakerFailureRatio { get; set; } = 0.5;

    public int BreakerMinimumThroughput { get; set; } = 20;

    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>The one resilience pipeline every database call of the app goes through.</summary>
public static class DatabaseResilience
{
    public const string PipelineName = "profile-sync-database";

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

    /// <summary>Deadline outermost, so it bounds every retry; the breaker innermost sees each attempt.</summary>
    public static ResiliencePipelineBuilder Configure(ResiliencePipelineBuilder builder, ResilienceOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        var transient = new PredicateBuilder().Handle<Exception>(IsTransient);
        return builder
            .AddTimeout(new TimeoutStrategyOptions { Timeout = options.Deadline })
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = transient,
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
            })
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
