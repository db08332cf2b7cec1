using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ProfileSync.Events;
using ProfileSync.Http;
using ProfileSync.Resilience;

namespace ProfileSync.Replay;

/// <summary>
/// <c>POST /api/profiles/replay</c> with <c>{}</c>, <c>{"userIds":[…]}</c> or <c>{"createdAfter":…,"createdBefore":…}</c>,
/// each with optional <c>"dryRun":true</c> (and <c>"batchSize"</c>).
/// </summary>
public sealed partial class ReplayHandler(ProfileReplayer replayer, ILogger<ReplayHandler> logger)
{
    private const int MaxBodyBytes = 1024 * 1024;

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var body = await RequestBody.ReadAsync(context.Request, MaxBodyBytes, context.RequestAborted);
        if (body is null)
        {
            await JsonResponses.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, new ErrorBody($"the body is over {MaxBodyBytes} bytes"));
            return;
        }

        ReplayRequest request;
        try
        {
            request = ParseRequest(body.Value);
        }
        catch (FormatException e)
        {
            await JsonResponses.WriteAsync(context, StatusCodes.Status400BadRequest, new ErrorBody(e.Message));
            return;
        }

        try
        {
            var report = await replayer.RunAsync(request, cancellationToken: context.RequestAborted);
            LogReplayed(logger, report.Scanned, report.Created, report.Refreshed, report.Removed, report.DryRun, report.ElapsedMs);
            await JsonResponses.WriteAsync(context, StatusCodes.Status200OK, report);
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

        List<Guid>? userIds = null;
        DateTimeOffset? after = null, before = null;
        var dryRun = false;
        var batchSize = ProfileReplayer.DefaultBatchSize;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "userIds":
                    userIds = ReadUserIds(property.Value);
                    break;
                case "createdAfter":
                    after = ReadTime(property);
                    break;
                case "createdBefore":
                    before = ReadTime(property);
                    break;
                case "dryRun":
                    dryRun = property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False
                        ? property.Value.GetBoolean()
                        : throw new FormatException("'dryRun' must be true or false");
                    break;
                case "batchSize":
                    batchSize = property.Value.TryGetInt32(out var size) && ProfileReplayer.IsAllowedBatchSize(size)
                        ? size
                        : throw new FormatException($"'batchSize' must be a whole number from {ProfileReplayer.MinBatchSize} to {ProfileReplayer.MaxBatchSize}");
                    break;
                default:
                    throw new FormatException($"unknown field '{(property.Name.Length <= 40 ? property.Name : property.Name[..40])}'; expected userIds, createdAfter, createdBefore, dryRun, batchSize");
            }
        }

        if (after is not null && before is not null && after >= before)
        {
            throw new FormatException("'createdAfter' must be earlier than 'createdBefore'");
        }

        return new ReplayRequest(new ReplayScope(userIds, after, before), dryRun, batchSize, Trigger: "http");
    }

    private static List<Guid> ReadUserIds(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0)
        {
            throw new FormatException("'userIds' must be a non-empty array of UUIDs");
        }

        return value.EnumerateArray()
            .Select(id => id.ValueKind == JsonValueKind.String && Guid.TryParse(id.GetString(), out var guid)
                ? guid
                : throw new FormatException("'userIds' must be a non-empty array of UUIDs"))
            .Distinct()
            .ToList();
    }

    private static DateTimeOffset ReadTime(JsonProperty property) =>
        property.Value.ValueKind == JsonValueKind.String && property.Value.TryGetDateTimeOffset(out var time)
            ? time
            : throw new FormatException($"'{property.Name}' must be an ISO 8601 timestamp");

    [LoggerMessage(Level = LogLevel.Information, Message = "Replay: scanned {Scanned}, created {Created}, refreshed {Refreshed}, removed {Removed}, dry run {DryRun}, {ElapsedMs} ms")]
    private static partial void LogReplayed(ILogger logger, long scanned, long created, long refreshed, long removed, bool dryRun, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Replay stopped ({Failure}); answered 503")]
    private static partial void LogStopped(ILogger logger, string failure);
}
