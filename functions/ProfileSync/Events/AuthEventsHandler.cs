using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using ProfileSync.Http;
using ProfileSync.Profiles;
using ProfileSync.Resilience;
using ProfileSync.Telemetry;

namespace ProfileSync.Events;

/// <summary>
/// <c>POST /api/auth-events</c>: one Supabase auth event. Reads the body with a limit, authenticates it before
/// parsing anything, then applies it through the database pipeline. Writes the response itself, so the Functions
/// host and <c>profilesync serve</c> answer exactly alike.
/// </summary>
public sealed partial class AuthEventsHandler(
    WebhookAuthenticator authenticator,
    IProfileStore store,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<ProfileSyncOptions> options,
    IOptions<ResilienceOptions> resilience,
    TimeProvider clock,
    ILogger<AuthEventsHandler> logger)
{
    // Supabase Auth gives a hook 5 s for every try, the network and a cold start included.
    private static readonly TimeSpan SignupHookBudget = TimeSpan.FromSeconds(3);

    private readonly ResiliencePipeline _pipeline = pipelines.GetPipeline(DatabaseResilience.PipelineName);
    private readonly LogThrottle _incompleteBodies = new(clock, TimeSpan.FromSeconds(10));

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var activity = ProfileSyncTelemetry.StartEvent();
        var started = Stopwatch.GetTimestamp();
        var handled = await AnswerAsync(context);
        ProfileSyncTelemetry.EventHandled(activity, handled.EventType, handled.Outcome, context.Response.StatusCode, handled.UserId,
            Stopwatch.GetElapsedTime(started));
    }

    private async Task<Handled> AnswerAsync(HttpContext context)
    {
        var request = context.Request;
        var body = await RequestBody.ReadAsync(request, options.Value.MaxEventBytes, context.RequestAborted);
        if (body.Status != BodyStatus.Read)
        {
            // Anyone can send a body that never arrives, before any signature is checked: one line now and then.
            if (body.Status == BodyStatus.Incomplete && _incompleteBodies.TryEnter(out var leftOut))
            {
                LogIncompleteBody(logger, body.Problem!, leftOut);
            }

            await RequestBody.AnswerAsync(context, body, options.Value.MaxEventBytes);
            return Handled.Refused(body.Status == BodyStatus.TooLarge ? "too_large" : "incomplete_body");
        }

        var eventId = request.Headers["webhook-id"].ToString();
        // Bearer-token deliveries (a dashboard Database Webhook) carry no webhook-id.
        var logId = eventId.Length == 0 ? "(no webhook-id)" : PrintableText.Bounded(eventId);
        if (!authenticator.IsAuthentic(
                eventId,
                request.Headers["webhook-timestamp"].ToString(),
                request.Headers["webhook-signature"].ToString(),
                request.Headers.Authorization.ToString(),
                body.Body.Span))
        {
            LogUnauthorized(logger, logId);
            await JsonResponses.WriteAsync(context, StatusCodes.Status401Unauthorized, new ErrorBody("unauthorized"));
            return Handled.Refused("unauthorized");
        }

        var parsed = AuthEventParser.Parse(body.Body);
        if (parsed.Status != ParseStatus.Parsed)
        {
            var status = parsed.Status == ParseStatus.Malformed
                ? StatusCodes.Status400BadRequest
                : StatusCodes.Status422UnprocessableEntity;
            LogRejected(logger, logId, status, parsed.Problem);
            await JsonResponses.WriteAsync(context, status, new ErrorBody(parsed.Problem!));
            return Handled.Refused("rejected");
        }

        if (parsed.Bulk is { } bulk)
        {
            return await ApplyBulkAsync(context, logId, bulk);
        }

        var authEvent = parsed.Event!;
        if (authEvent.Type == AuthEventType.BeforeUserCreated)
        {
            // The user is written after this answer, so there is nothing to converge yet; and this app refuses no one.
            LogApplied(logger, logId, authEvent.Type, authEvent.UserId, ProfileOutcome.Ignored);
            return await AnswerOutcomeAsync(context, authEvent, ProfileOutcome.Ignored);
        }

        var deadline = resilience.Value.Deadline;
        if (authEvent.IsSignupHook && SignupHookBudget < deadline)
        {
            deadline = SignupHookBudget;
        }

        try
        {
            var outcome = await _pipeline.ExecuteWithinDeadlineAsync(
                deadline,
                static async (state, token) => await state.store.ApplyAsync(state.authEvent, token),
                (store, authEvent),
                context.RequestAborted);
            if (outcome == ProfileOutcome.Failed)
            {
                // Delivering it again would change nothing: answered as handled, and left for a person to look at.
                LogSetAside(logger, logId, authEvent.Type, authEvent.UserId);
            }
            else
            {
                LogApplied(logger, logId, authEvent.Type, authEvent.UserId, outcome);
            }

            return await AnswerOutcomeAsync(context, authEvent, outcome);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Whatever failed, the event was not applied: 503 makes Supabase deliver it again, and replay heals what
            // never arrives. Anything but an outage is logged as such: it needs a person.
            var unavailable = DatabaseResilience.IsUnavailable(e);
            if (authEvent.IsSignupHook)
            {
                return await DeferAsync(context, logId, authEvent, unavailable, DatabaseResilience.Describe(e));
            }

            if (unavailable)
            {
                LogUnavailable(logger, logId, authEvent.Type, authEvent.UserId, DatabaseResilience.Describe(e));
            }
            else
            {
                LogFailed(logger, logId, authEvent.Type, authEvent.UserId, DatabaseResilience.Describe(e));
            }

            await JsonResponses.UnavailableAsync(context, "the database is unavailable; retry later");
            return new Handled(Name(authEvent.Type), unavailable ? "unavailable" : "error", authEvent.UserId);
        }
    }

    // Supabase Auth fails the end user's signup on any answer but 204 or 200/202 JSON, although the user exists: a
    // signup hook the database could not apply is answered 200 all the same, and its profile left to the fallback
    // trigger and the reconcile.
    private async Task<Handled> DeferAsync(HttpContext context, string logId, AuthEvent authEvent, bool unavailable, string failure)
    {
        if (unavailable)
        {
            LogDeferred(logger, logId, authEvent.Type, authEvent.UserId, failure);
        }
        else
        {
            LogDeferredAfterFailure(logger, logId, authEvent.Type, authEvent.UserId, failure);
        }

        return await AnswerOutcomeAsync(context, authEvent, ProfileOutcome.Deferred);
    }

    // 200 with what became of the event's user, and the same outcome for its span and metrics.
    private static async Task<Handled> AnswerOutcomeAsync(HttpContext context, AuthEvent authEvent, ProfileOutcome outcome)
    {
        await JsonResponses.WriteAsync(context, StatusCodes.Status200OK, new OutcomeBody(outcome, authEvent.UserId));
        return new Handled(Name(authEvent.Type), outcome.Name(), authEvent.UserId);
    }

    // Users one transaction changed together: converged in one call, answered with how many of each outcome. A user
    // that cannot be written is set aside, as for a single event; delivering the body again would change nothing.
    private async Task<Handled> ApplyBulkAsync(HttpContext context, string logId, BulkAuthEvent bulk)
    {
        try
        {
            var outcome = await _pipeline.ExecuteWithinDeadlineAsync(
                resilience.Value.Deadline,
                static async (state, token) => await state.store.ApplyManyAsync(state.bulk, token),
                (store, bulk),
                context.RequestAborted);
            LogAppliedBulk(logger, logId, outcome.Users, outcome.Created, outcome.Updated, outcome.Unchanged, outcome.Deleted, outcome.Absent, outcome.Failed);
            await JsonResponses.WriteAsync(context, StatusCodes.Status200OK, outcome);
            return new Handled(Name(AuthEventType.Bulk), outcome.Failed > 0 ? ProfileOutcome.Failed.Name() : "applied", null);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            var unavailable = DatabaseResilience.IsUnavailable(e);
            if (unavailable)
            {
                LogBulkUnavailable(logger, logId, bulk.UserIds.Count, DatabaseResilience.Describe(e));
            }
            else
            {
                LogBulkFailed(logger, logId, bulk.UserIds.Count, DatabaseResilience.Describe(e));
            }

            await JsonResponses.UnavailableAsync(context, "the database is unavailable; retry later");
            return new Handled(Name(AuthEventType.Bulk), unavailable ? "unavailable" : "error", null);
        }
    }

    // snake_case, as OpenTelemetry attribute values go ("insert", "hook"), worked out once per value.
    private static readonly Dictionary<AuthEventType, string> EventTypeNames = Enum.GetValues<AuthEventType>()
        .ToDictionary(type => type, type => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(type.ToString()));

    private static string Name(AuthEventType type) => EventTypeNames[type];

    /// <summary>How an event was answered, for its span and metrics.</summary>
    private readonly record struct Handled(string EventType, string Outcome, Guid? UserId)
    {
        public static Handled Refused(string outcome) => new("unknown", outcome, null);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Auth event {EventId} {EventType} for user {UserId}: {Outcome}")]
    private static partial void LogApplied(ILogger logger, string eventId, AuthEventType eventType, Guid userId, ProfileOutcome outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "Auth event {EventId} BULK for {Users} users: {Created} created, {Updated} updated, {Unchanged} unchanged, {Deleted} deleted, {Absent} absent, {Failed} set aside")]
    private static partial void LogAppliedBulk(ILogger logger, string eventId, int users, int created, int updated, int unchanged, int deleted, int absent, int failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth event {EventId} BULK for {Users} users not applied: database unavailable ({Failure}); answered 503")]
    private static partial void LogBulkUnavailable(ILogger logger, string eventId, int users, string failure);

    [LoggerMessage(Level = LogLevel.Error, Message = "Auth event {EventId} BULK for {Users} users not applied: unexpected failure ({Failure}); answered 503")]
    private static partial void LogBulkFailed(ILogger logger, string eventId, int users, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth event {EventId} {EventType} for user {UserId}: the profile cannot be written and was set aside (profilesync explain --user-id says why)")]
    private static partial void LogSetAside(ILogger logger, string eventId, AuthEventType eventType, Guid userId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth event without a whole body: {Problem}; {LeftOut} more since the last such line")]
    private static partial void LogIncompleteBody(ILogger logger, string problem, long leftOut);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth event {EventId} refused: signature or token missing or wrong")]
    private static partial void LogUnauthorized(ILogger logger, string eventId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth event {EventId} rejected with {Status}: {Problem}")]
    private static partial void LogRejected(ILogger logger, string eventId, int status, string? problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth event {EventId} {EventType} for user {UserId} not applied: database unavailable ({Failure}); answered 503")]
    private static partial void LogUnavailable(ILogger logger, string eventId, AuthEventType eventType, Guid userId, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth event {EventId} {EventType} for user {UserId} deferred: database unavailable ({Failure}); answered 200 so the signup goes on, the fallback trigger or the reconcile makes the profile")]
    private static partial void LogDeferred(ILogger logger, string eventId, AuthEventType eventType, Guid userId, string failure);

    [LoggerMessage(Level = LogLevel.Error, Message = "Auth event {EventId} {EventType} for user {UserId} deferred: unexpected failure ({Failure}); answered 200 so the signup goes on, the fallback trigger or the reconcile makes the profile")]
    private static partial void LogDeferredAfterFailure(ILogger logger, string eventId, AuthEventType eventType, Guid userId, string failure);

    [LoggerMessage(Level = LogLevel.Error, Message = "Auth event {EventId} {EventType} for user {UserId} not applied: unexpected failure ({Failure}); answered 503")]
    private static partial void LogFailed(ILogger logger, string eventId, AuthEventType eventType, Guid userId, string failure);
}

public sealed record OutcomeBody(ProfileOutcome Outcome, Guid UserId);
