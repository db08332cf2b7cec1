using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ProfileSync.Events;
using ProfileSync.Http;
using ProfileSync.Resilience;

namespace ProfileSync.Replay;

/// <summary>
/// <c>POST /api/profiles/replay</c> with <c>{}</c>, <c>{"userIds":[…]}</c> or <c>{"createdAfter":…,"createdBefore":…}</c>,
/// each with optional <c>"dryRun":true</c> (and <c>"batchSize"</c>). A replay of everyone answers within the host's
/// limit for a request (230 s on Azure): 200 when it is done, or 202 when its time (ProfileSync__Passes__HttpReplayBudget)
/// ran out first, with what it did so far; the next replay of everyone (this route again, the timer, the CLI) goes on
/// from there, and <c>profilesync status</c> shows how far it got.
/// </summary>
public sealed partial class ReplayHandler(ProfileReplayer replayer, IOptions<PassOptions> passes, ILogger<ReplayHandler> logger)
{
    private const int MaxBodyBytes = 1024 * 1024;

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var body = await RequestBody.ReadAsync(context.Request, MaxBodyBytes, context.RequestAborted);
        if (body.Status != BodyStatus.Read)
        {
            await RequestBody.AnswerAsync(context, body, MaxBodyBytes);
            return;
        }

        ReplayRequest request;
        try
        {
            request = ParseRequest(body.Body);
        }
        catch (FormatException e)
        {
            await JsonResponses.WriteAsync(context, StatusCodes.Status400BadRequest, new ErrorBody(e.Message));
            return;
        }

        try
        {
            var report = await replayer.RunAsync(request with { TimeBudget = passes.Value.HttpReplayBudget }, cancellationToken: context.RequestAborted);
            LogReplayed(logger, report.Scanned, report.Created, report.Refreshed, report.Removed, report.DryRun, report.ElapsedMs);
            if (report.Failed > 0)
            {
                LogSetAside(logger, report.Failed, string.Join(", ", report.FailedUserIds));
            }

            if (!report.Complete)
            {
                LogUnfinished(logger, report.Done);
            }

            await JsonResponses.WriteAsync(context, report.Complete ? StatusCodes.Status200OK : StatusCodes.Status202Accepted, report);
        }
        catch (ReplayAlreadyRunningException e)
        {
            await JsonResponses.WriteAsync(context, StatusCodes.Status409Conflict, new ErrorBody(e.Message));
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Batches are committed one by one: whatever stopped it, what is done stays and a new run goes on.
            LogStopped(logger, DatabaseResilience.Describe(e is ReplayLockLostException { InnerException: { } inner } ? inner : e));
            await JsonResponses.UnavailableAsync(context, "the database is unavailable; nothing is lost, run the replay again");
        }
    }

    /// <summary>Strict: an unknown or misspelt field is an error, never a replay of everything.</summary>
    public static ReplayRequest ParseRequest(ReadOnlyMemory<byte> body)
    {
        if (body.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            // An empty body is more likely a mistake than a wish to replay everyone.
            throw new FormatException("the body is empty: send {} to replay every user");
        }

        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(body);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new FormatException("the body is not JSON");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the body must be a JSON object");
        }

        try
        {
            return ReadRequest(root);
        }
        catch (InvalidOperationException)
        {
            // JsonElement's strings throw on escapes that are not text (a lone surrogate).
            throw new FormatException("the body holds a string that is not valid Unicode");
        }
    }

    private static ReplayRequest ReadRequest(JsonElement root)
    {
        List<Guid>? userIds = null;
        DateTimeOffset? after = null, before = null;
        var dryRun = false;
        var batchSize = ReplayRequest.DefaultBatchSize;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "userIds":
                    userIds = ReadUserIds(property.Value);
                    break;
                case "createdAfter":
                    after = ReplayRequest.ParseTime(RequiredString(property), Names.CreatedAfter);
                    break;
                case "createdBefore":
                    before = ReplayRequest.ParseTime(RequiredString(property), Names.CreatedBefore);
                    break;
                case "dryRun":
                    dryRun = property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False
                        ? property.Value.GetBoolean()
                        : throw new FormatException("'dryRun' must be true or false");
                    break;
                case "batchSize":
                    batchSize = property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetInt32(out var size)
                        ? size
                        : throw new FormatException("'batchSize' must be a whole number");
                    break;
                default:
                    throw new FormatException($"unknown field '{PrintableText.Bounded(property.Name, 40)}'; expected userIds, createdAfter, createdBefore, dryRun, batchSize");
            }
        }

        return new ReplayRequest(new ReplayScope(userIds, after, before), dryRun, batchSize, Trigger: "http").Validated(Names);
    }

    /// <summary>The request's fields as this route's body names them.</summary>
    private static readonly ReplayFieldNames Names = new("'userIds'", "'createdAfter'", "'createdBefore'", "'batchSize'");

    private static List<Guid> ReadUserIds(JsonElement value) =>
        value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray()
                .Select(id => id.ValueKind == JsonValueKind.String
                    ? ReplayRequest.ParseUserId(id.GetString()!, Names.UserIds)
                    : throw new FormatException("'userIds' must be an array of UUID strings"))
                .Distinct()
                .ToList()
            : throw new FormatException("'userIds' must be an array of UUID strings");

    private static string RequiredString(JsonProperty property) =>
        property.Value.ValueKind == JsonValueKind.String
            ? property.Value.GetString()!
            : throw new FormatException($"'{property.Name}' must be a string holding an ISO 8601 time");

    [LoggerMessage(Level = LogLevel.Information, Message = "Replay: scanned {Scanned}, created {Created}, refreshed {Refreshed}, removed {Removed}, dry run {DryRun}, {ElapsedMs} ms")]
    private static partial void LogReplayed(ILogger logger, long scanned, long created, long refreshed, long removed, bool dryRun, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replay set aside {Failed} users whose profile cannot be written (among them {UserIds}); profilesync explain --user-id says why")]
    private static partial void LogSetAside(ILogger logger, long failed, string userIds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replay of everyone answered at {Done:P0} done, its time for one request spent; the next replay of everyone goes on from there")]
    private static partial void LogUnfinished(ILogger logger, double done);

    [LoggerMessage(Level = LogLevel.Error, Message = "Replay stopped ({Failure}); answered 503")]
    private static partial void LogStopped(ILogger logger, string failure);
}
