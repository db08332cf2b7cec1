using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;
using Npgsql;
using ProfileFunctions;
using ProfileSync.Events;
using ProfileSync.Profiles;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Events;

/// <summary>The function class over the real handler, with the store replaced at its seam.</summary>
public sealed class AuthEventsHandlerTests
{
    private static readonly Guid UserId = Guid.Parse("2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a");
    private readonly Mock<IProfileStore> _store = new(MockBehavior.Strict);

    [Theory]
    [InlineData(ProfileOutcome.Created, "created")]
    [InlineData(ProfileOutcome.Updated, "updated")]
    [InlineData(ProfileOutcome.Unchanged, "unchanged")]
    [InlineData(ProfileOutcome.Deleted, "deleted")]
    [InlineData(ProfileOutcome.Ignored, "ignored")]
    public async Task Applied_event_answers_200_with_the_outcome_and_user(ProfileOutcome outcome, string expected)
    {
        _store.Setup(s => s.ApplyAsync(It.Is<AuthEvent>(e => e.UserId == UserId), It.IsAny<CancellationToken>())).ReturnsAsync(outcome);

        var (status, body, _) = await PostAsync(SupabaseEvents.Insert(UserId, "a@example.com"));

        Assert.Equal(200, status);
        Assert.Equal($$"""{"outcome":"{{expected}}","userId":"{{UserId}}"}""", body);
    }

    [Fact]
    public async Task Bearer_token_authenticates_a_dashboard_webhook()
    {
        _store.Setup(s => s.ApplyAsync(It.IsAny<AuthEvent>(), It.IsAny<CancellationToken>())).ReturnsAsync(ProfileOutcome.Created);

        var (status, _, _) = await PostAsync(SupabaseEvents.Insert(UserId), sign: false, authorization: "Bearer " + SupabaseEvents.BearerToken);

        Assert.Equal(200, status);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-token-wrong-token-wrong")]
    public async Task Unauthenticated_event_answers_401_and_touches_nothing(string? authorization)
    {
        var (status, body, _) = await PostAsync(SupabaseEvents.Insert(UserId), sign: false, authorization: authorization);

        Assert.Equal(401, status);
        Assert.Equal("""{"error":"unauthorized"}""", body);
        _store.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Header_values_reach_the_log_as_short_printable_ascii_only()
    {
        var logs = new CapturedLogs();
        await using var services = LoggedServices(logs);
        var forged = "msg_\u001b[31mred\r\nERROR fake line\u0007" + new string('x', 500);

        var (status, _, _) = await PostAsync(SupabaseEvents.Insert(UserId), sign: false, services: services, webhookId: forged);

        Assert.Equal(401, status);
        var line = Assert.Single(logs.Messages, m => m.Contains("refused", StringComparison.Ordinal));
        Assert.DoesNotContain(line, c => c is < ' ' or > '~');
        Assert.Contains("msg_?[31mred??ERROR fake line?", line, StringComparison.Ordinal);
        Assert.True(line.Length < 200, line);
    }

    [Fact]
    public async Task A_refusal_without_a_webhook_id_says_so_in_its_log_line()
    {
        var logs = new CapturedLogs();
        await using var services = LoggedServices(logs);

        var (status, _, _) = await PostAsync(SupabaseEvents.Insert(UserId), sign: false, services: services, authorization: "Bearer wrong-token-wrong-token-wrong");

        Assert.Equal(401, status);
        Assert.Equal("Auth event (no webhook-id) refused: signature or token missing or wrong", Assert.Single(logs.Messages, m => m.Contains("refused", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Malformed_body_is_not_parsed_before_it_is_authenticated()
    {
        var (status, _, _) = await PostAsync("{not json", sign: false);

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task Malformed_event_answers_400_with_the_reason()
    {
        var (status, body, _) = await PostAsync("""{"type":"INSERT","table":"users","schema":"auth","record":{"id":"x"}}""");

        Assert.Equal(400, status);
        Assert.Contains("'record.id' must be a UUID", body, StringComparison.Ordinal);
        _store.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Event_of_another_table_answers_422()
    {
        var (status, _, _) = await PostAsync("""{"type":"INSERT","table":"orders","schema":"public","record":{"id":1},"old_record":null}""");

        Assert.Equal(422, status);
        _store.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Body_over_the_limit_answers_413_whether_or_not_its_length_is_announced(bool announceLength)
    {
        var padding = new string('x', 2048);
        var body = SupabaseEvents.Insert(UserId, metadata: new { padding });

        var (status, _, _) = await PostAsync(body, settings: new() { ["ProfileSync:MaxEventBytes"] = "1024" }, announceLength: announceLength);

        Assert.Equal(413, status);
        _store.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Database_still_failing_at_the_deadline_answers_503_with_retry_after()
    {
        var attempts = 0;
        _store.Setup(s => s.ApplyAsync(It.IsAny<AuthEvent>(), It.IsAny<CancellationToken>()))
            .Callback(() => Interlocked.Increment(ref attempts))
            .ThrowsAsync(new NpgsqlException("connection refused", new SocketException((int)SocketError.ConnectionRefused)));

        var (status, body, headers) = await PostAsync(SupabaseEvents.Insert(UserId), settings: new()
        {
            ["ProfileSync:Resilience:Deadline"] = "00:00:00.500",
            ["ProfileSync:Resilience:RetryBaseDelay"] = "00:00:00.010",
        });

        Assert.Equal(503, status);
        Assert.Equal("2", headers.RetryAfter.ToString());
        Assert.Contains("retry later", body, StringComparison.Ordinal);
        Assert.True(attempts > 1, "transient failures are retried");
    }

    [Fact]
    public async Task Once_the_circuit_opens_a_dead_database_is_answered_503_without_trying_it()
    {
        var attempts = 0;
        _store.Setup(s => s.ApplyAsync(It.IsAny<AuthEvent>(), It.IsAny<CancellationToken>()))
            .Callback(() => Interlocked.Increment(ref attempts))
            .ThrowsAsync(new NpgsqlException("connection refused", new SocketException((int)SocketError.ConnectionRefused)));
        var settings = new Dictionary<string, string?>
        {
            ["ProfileSync:Resilience:Deadline"] = "00:00:02",
            ["ProfileSync:Resilience:RetryBaseDelay"] = "00:00:00.010",
            ["ProfileSync:Resilience:BreakerMinimumThroughput"] = "2",
            ["ProfileSync:Resilience:BreakDuration"] = "00:01:00",
        };
        await using var services = Services(settings);

        var first = await PostAsync(SupabaseEvents.Insert(UserId), services: services);
        var attemptsWhileClosed = attempts;
        var second = await PostAsync(SupabaseEvents.Insert(UserId), services: services);

        Assert.Equal(503, first.Status);
        Assert.Equal(503, second.Status);
        Assert.Equal(attemptsWhileClosed, attempts);
    }

    [Fact]
    public async Task Non_transient_failure_is_tried_once_and_answered_503_never_500_with_an_error_line_that_holds_no_message()
    {
        var attempts = 0;
        _store.Setup(s => s.ApplyAsync(It.IsAny<AuthEvent>(), It.IsAny<CancellationToken>()))
            .Callback(() => Interlocked.Increment(ref attempts))
            .ThrowsAsync(new PostgresException("permission denied for table user_profiles: ana@example.com", "ERROR", "ERROR", "42501"));
        var logs = new CapturedLogs();
        await using var services = LoggedServices(logs);

        var (status, _, headers) = await PostAsync(SupabaseEvents.Insert(UserId), services: services);

        Assert.Equal(503, status);
        Assert.Equal("2", headers.RetryAfter.ToString());
        Assert.Equal(1, attempts);
        var line = Assert.Single(logs.Lines, l => l.Level >= LogLevel.Warning);
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Contains("unexpected failure (SQLSTATE 42501)", line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ana@example.com", line.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("created")]
    [InlineData("updated")]
    [InlineData("unchanged")]
    [InlineData("deleted")]
    [InlineData("ignored")]
    [InlineData("failed")]
    [InlineData("a transient failure until the deadline")]
    [InlineData("an unexpected failure")]
    [InlineData("no answer at all")]
    public async Task Every_answer_to_an_after_user_created_hook_is_one_auth_accepts_within_its_budget(string fate)
    {
        var store = _store.Setup(s => s.ApplyAsync(It.Is<AuthEvent>(e => e.UserId == UserId), It.IsAny<CancellationToken>()));
        var hung = new TaskCompletionSource<ProfileOutcome>(); // a driver that does not return when cancelled
        var expected = fate switch
        {
            "a transient failure until the deadline" => Deferred(store.ThrowsAsync(new NpgsqlException("connection refused", new SocketException((int)SocketError.ConnectionRefused)))),
            "an unexpected failure" => Deferred(store.ThrowsAsync(new PostgresException("permission denied", "ERROR", "ERROR", "42501"))),
            "no answer at all" => Deferred(store.Returns(hung.Task)),
            _ => Applied(store, fate),
        };
        await using var services = Services(new());
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var (status, body, headers) = await PostAsync(SupabaseAuthHookClient.Body("after-user-created", UserId, "a@example.com"), services: services);
        clock.Stop();
        hung.TrySetResult(ProfileOutcome.Created); // Polly's pipelines wait for what still runs when they are disposed

        Assert.Null(SupabaseAuthHookClient.Refusal((System.Net.HttpStatusCode)status, headers.ContentType, body, clock.Elapsed));
        Assert.Equal($$"""{"outcome":"{{expected}}","userId":"{{UserId}}"}""", body);

        static string Deferred(object _) => "deferred";
        static string Applied(Moq.Language.Flow.ISetup<IProfileStore, Task<ProfileOutcome>> store, string outcome)
        {
            store.ReturnsAsync(ProfileOutcomes.Parse(outcome));
            return outcome;
        }
    }

    [Fact]
    public async Task A_before_user_created_hook_is_answered_at_once_and_refuses_no_one()
    {
        var (status, body, headers) = await PostAsync(SupabaseAuthHookClient.Body("before-user-created", UserId, "new@example.com"));

        Assert.Null(SupabaseAuthHookClient.Refusal((System.Net.HttpStatusCode)status, headers.ContentType, body, TimeSpan.Zero));
        Assert.Equal($$"""{"outcome":"ignored","userId":"{{UserId}}"}""", body);
        _store.VerifyNoOtherCalls(); // the user is written after the answer: nothing to converge yet
    }

    [Fact]
    public async Task A_signup_hook_that_cannot_be_verified_or_read_is_refused_so_auth_fails_that_signup()
    {
        var unsigned = await PostAsync(SupabaseAuthHookClient.Body("after-user-created", UserId, "a@example.com"), sign: false);
        var unreadable = await PostAsync("""{"metadata":{"name":"after-user-created"},"user":{"email":"a@example.com"}}""");

        Assert.Equal("Hook requires authorization token", SupabaseAuthHookClient.Refusal((System.Net.HttpStatusCode)unsigned.Status, unsigned.Headers.ContentType, unsigned.Body, TimeSpan.Zero));
        Assert.Equal("Invalid payload sent to hook", SupabaseAuthHookClient.Refusal((System.Net.HttpStatusCode)unreadable.Status, unreadable.Headers.ContentType, unreadable.Body, TimeSpan.Zero));
        _store.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Functions_app_container_resolves_the_functions()
    {
        await using var services = Services(new());

        Assert.NotNull(ActivatorUtilities.CreateInstance<AuthEventsFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<HealthFunction>(services));
    }

    [Fact]
    public void Host_without_a_way_to_authenticate_events_refuses_to_start()
    {
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ProfileSync:ConnectionString"] = "Host=127.0.0.1",
            }).Build())
            .AddLogging()
            .AddProfileSyncEvents()
            .BuildServiceProvider();

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(
            () => services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ProfileSyncOptions>>().Value);

        Assert.Contains("ProfileSync__WebhookSecret", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The handler over the mocked store, its log lines kept in <paramref name="logs"/>.</summary>
    private ServiceProvider LoggedServices(CapturedLogs logs) =>
        TestServices.Build("Host=127.0.0.1;Port=1", configure: s => s.AddSingleton(_store.Object).AddLogging(l => l.AddProvider(logs)));

    private ServiceProvider Services(Dictionary<string, string?> settings) =>
        TestServices.Build("Host=127.0.0.1;Port=1", settings, services => services.AddSingleton(_store.Object));

    private async Task<(int Status, string Body, IHeaderDictionary Headers)> PostAsync(
        string body,
        bool sign = true,
        string? authorization = null,
        Dictionary<string, string?>? settings = null,
        bool announceLength = true,
        ServiceProvider? services = null,
        string? webhookId = null)
    {
        await using var owned = services is null ? Services(settings ?? new()) : null;
        var function = ActivatorUtilities.CreateInstance<AuthEventsFunction>(owned ?? services!);
        var context = new DefaultHttpContext();
        var bytes = Encoding.UTF8.GetBytes(body);
        context.Request.Method = "POST";
        context.Request.Body = new MemoryStream(bytes);
        context.Request.ContentLength = announceLength ? bytes.Length : null;
        if (sign)
        {
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Request.Headers["webhook-id"] = "msg_test";
            context.Request.Headers["webhook-timestamp"] = timestamp;
            context.Request.Headers["webhook-signature"] = StandardWebhooks.Sign(SupabaseEvents.Secret, "msg_test", timestamp, body);
        }

        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        if (webhookId is not null)
        {
            context.Request.Headers["webhook-id"] = webhookId;
        }

        context.Response.Body = new MemoryStream();
        await function.RunAsync(context.Request);
        context.Response.Body.Position = 0;
        return (context.Response.StatusCode, await new StreamReader(context.Response.Body).ReadToEndAsync(), context.Response.Headers);
    }
}
