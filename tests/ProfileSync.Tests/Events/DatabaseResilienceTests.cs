using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Polly.CircuitBreaker;
using Polly.Registry;
using Polly.Retry;
using Polly.Testing;
using Polly.Timeout;
using ProfileSync.Resilience;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Events;

public sealed class DatabaseResilienceTests
{
    [Fact]
    public void Pipeline_has_a_deadline_outside_retries_and_a_breaker_inside_from_the_settings()
    {
        using var services = TestServices.Build("Host=127.0.0.1", new Dictionary<string, string?>
        {
            ["ProfileSync:Resilience:Deadline"] = "00:00:03",
            ["ProfileSync:Resilience:MaxRetryAttempts"] = "7",
        });

        var pipeline = services.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(DatabaseResilience.PipelineName);
        var strategies = pipeline.GetPipelineDescriptor().Strategies;

        Assert.Collection(
            strategies,
            s => Assert.Equal(TimeSpan.FromSeconds(3), Assert.IsType<TimeoutStrategyOptions>(s.Options).Timeout),
            s =>
            {
                var retry = Assert.IsType<RetryStrategyOptions>(s.Options);
                Assert.Equal(7, retry.MaxRetryAttempts);
                Assert.Equal(Polly.DelayBackoffType.Exponential, retry.BackoffType);
                Assert.True(retry.UseJitter);
            },
            s => Assert.Equal(0.5, Assert.IsType<CircuitBreakerStrategyOptions>(s.Options).FailureRatio));
    }

    public static TheoryData<Exception, bool> Failures() => new()
    {
        { new PostgresException("too many connections", "FATAL", "FATAL", PostgresErrorCodes.TooManyConnections), true },
        { new PostgresException("terminating connection", "FATAL", "FATAL", PostgresErrorCodes.AdminShutdown), true },
        { new PostgresException("the database system is starting up", "FATAL", "FATAL", PostgresErrorCodes.CannotConnectNow), true },
        { new PostgresException("deadlock", "ERROR", "ERROR", PostgresErrorCodes.DeadlockDetected), true },
        { new NpgsqlException("connection refused", new SocketException((int)SocketError.ConnectionRefused)), true },
        { new TimeoutException(), true },
        { new PostgresException("server login has been failing, try again later (server_login_retry)", "FATAL", "FATAL", PostgresErrorCodes.ProtocolViolation), true },
        { new PostgresException("Failed to connect to database: econnrefused", "FATAL", "FATAL", PostgresErrorCodes.ConnectionFailure), true },
        { new PostgresException("(EDBHANDLEREXITED) DbHandler exited. Check logs for more information", "FATAL", "FATAL", PostgresErrorCodes.InternalError), true },
        { new PostgresException("invalid message format", "ERROR", "ERROR", PostgresErrorCodes.ProtocolViolation), false },
        { new PostgresException("internal error", "ERROR", "ERROR", PostgresErrorCodes.InternalError), false },
        { new PostgresException("duplicate key", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation), false },
        { new PostgresException("violates foreign key constraint", "ERROR", "ERROR", PostgresErrorCodes.ForeignKeyViolation), true },
        { new PostgresException("permission denied", "ERROR", "ERROR", PostgresErrorCodes.InsufficientPrivilege), false },
        { new PostgresException("canceling statement due to statement timeout", "ERROR", "ERROR", PostgresErrorCodes.QueryCanceled), false },
        { new InvalidOperationException(), false },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Retries_only_what_is_transient(Exception failure, bool transient) =>
        Assert.Equal(transient, DatabaseResilience.IsTransient(failure));

    [Fact]
    public void Deadline_and_open_circuit_mean_unavailable() =>
        Assert.True(DatabaseResilience.IsUnavailable(new TimeoutRejectedException())
                    && DatabaseResilience.IsUnavailable(new BrokenCircuitException()));
}
