using System.Text.Json;
using System.Text.Unicode;

namespace ProfileSync.Events;

public enum ParseStatus
{
    Parsed,

    /// <summary>Not a well-formed event: 400.</summary>
    Malformed,

    /// <summary>Well-formed but not ours to handle (another table, another type): 422.</summary>
    Unsupported,
}

public readonly record struct ParseResult(ParseStatus Status, AuthEvent? Event, string? Problem, BulkAuthEvent? Bulk = null)
{
    public static ParseResult Ok(AuthEvent authEvent) => new(ParseStatus.Parsed, authEvent, null);

    public static ParseResult Ok(BulkAuthEvent bulk) => new(ParseStatus.Parsed, null, null, bulk);

    public static ParseResult Malformed(string problem) => new(ParseStatus.Malformed, null, problem);

    public static ParseResult Unsupported(string problem) => new(ParseStatus.Unsupported, null, problem);
}

/// <summary>
/// Reads a Supabase Database Webhook body (<c>type, table, schema, record, old_record</c>), the signed wiring's body
/// for users changed together (<c>type</c> <c>BULK</c>, <c>table, schema, user_ids</c>) or an Auth Hook body
/// (<c>metadata, user</c>). Only what identifies the event is read: its type, table and user ids. The rest of the
/// row (e-mail, metadata, password hash, tokens) is never looked at: auth.users is the truth.
/// </summary>
public static class AuthEventParser
{
    /// <summary>The most users one BULK body may name: what the wiring puts in one request (about 40 KB).</summary>
    public const int MaxBulkUsers = 1000;

    // A key given twice could mean one thing here and another to whatever else reads the body: refused.
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64, AllowDuplicateProperties = false };

    private const string NotUnicode = "a string or name in the body is not valid Unicode";

    public static ParseResult Parse(ReadOnlyMemory<byte> body)
    {
        if (!Utf8.IsValid(body.Span))
        {
            return ParseResult.Malformed("the body is not UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Options);
        }
        catch (JsonException)
        {
            return ParseResult.Malformed("the body is not JSON");
        }
        catch (InvalidOperationException)
        {
            // A property name that is no Unicode text (a lone surrogate escape) fails the duplicate-key check.
            return ParseResult.Malformed(NotUnicode);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ParseResult.Malformed("the body is not a JSON object");
            }

            try
            {
                if (root.TryGetProperty("type", out _))
                {
                    return ParseDatabaseWebhook(root);
                }

                if (root.TryGetProperty("user", out _))
                {
                    return ParseAuthHook(root);
                }
            }
            catch (FormatException e)
            {
                return ParseResult.Malformed(e.Message);
            }
            catch (InvalidOperationException)
            {
                // What GetString throws for an escape that is no Unicode text, e.g. a lone surrogate "\ud800".
                return ParseResult.Malformed(NotUnicode);
            }

            return ParseResult.Malformed("neither a Database Webhook (type, table, schema, record) nor an Auth Hook (metadata, user) body");
        }
    }

    private static ParseResult ParseDatabaseWebhook(JsonElement root)
    {
        var type = RequiredString(root, "type");
        var schema = RequiredString(root, "schema");
        var table = RequiredString(root, "table");
        if (schema != "auth" || table != "users")
        {
            return ParseResult.Unsupported($"events of {Echo(schema)}.{Echo(table)} are not handled; only auth.users");
        }

        switch (type)
        {
            case "INSERT":
                return ParseResult.Ok(new AuthEvent(AuthEventType.Insert, RowId(root, "record")));
            case "UPDATE":
                return ParseResult.Ok(new AuthEvent(AuthEventType.Update, RowId(root, "record")));
            case "DELETE":
                return ParseResult.Ok(new AuthEvent(AuthEventType.Delete, RowId(root, "old_record")));
            case "BULK":
                return ParseResult.Ok(new BulkAuthEvent(UserIds(root)));
            default:
                return ParseResult.Unsupported($"event type '{Echo(type)}' is not handled; only INSERT, UPDATE, DELETE and BULK");
        }
    }

    private static List<Guid> UserIds(JsonElement root)
    {
        if (!root.TryGetProperty("user_ids", out var ids) || ids.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("'user_ids' must be an array");
        }

        var count = ids.GetArrayLength();
        if (count is 0 or > MaxBulkUsers)
        {
            throw new FormatException($"'user_ids' must name 1 to {MaxBulkUsers} users");
        }

        var userIds = new HashSet<Guid>(count);
        foreach (var id in ids.EnumerateArray())
        {
            if (id.ValueKind != JsonValueKind.String || !UserId.TryParse(id.GetString(), out var userId))
            {
                throw new FormatException("'user_ids' must hold UUIDs");
            }

            userIds.Add(userId);
        }

        return [.. userIds];
    }

    private static ParseResult ParseAuthHook(JsonElement root) =>
        ParseResult.Ok(new AuthEvent(HookType(root), RowId(root, "user")));

    private static AuthEventType HookType(JsonElement root) =>
        root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
        && metadata.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
            ? name.GetString() switch
            {
                "after-user-created" => AuthEventType.AfterUserCreated,
                "before-user-created" => AuthEventType.BeforeUserCreated,
                _ => AuthEventType.Hook,
            }
            : AuthEventType.Hook;

    private static Guid RowId(JsonElement root, string where) => RequiredGuid(RequiredObject(root, where), "id", where);

    /// <summary>
    /// A schema, table or type name from the body, for answers and logs: as sent when it reads as a name; anything
    /// else (an e-mail pasted into the type, a payload) is never echoed.
    /// </summary>
    private static string Echo(string value) =>
        value.Length is > 0 and <= 63 && (char.IsAsciiLetter(value[0]) || value[0] == '_')
            && value.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
            ? value
            : "(not a name)";

    private static string RequiredString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new FormatException($"'{name}' must be a string");

    private static JsonElement RequiredObject(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value
            : throw new FormatException($"'{name}' must be an object");

    private static Guid RequiredGuid(JsonElement row, string name, string where) =>
        row.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
        && UserId.TryParse(value.GetString(), out var id)
            ? id
            : throw new FormatException($"'{where}.{name}' must be a UUID");
}
