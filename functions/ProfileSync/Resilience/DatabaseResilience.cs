using Npgsql;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

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
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = transient,
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakDuration,
            });
    }
}
