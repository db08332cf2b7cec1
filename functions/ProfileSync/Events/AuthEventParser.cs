using System.Globalization;
using System.Text.Json;

namespace ProfileSync.Events;

public enum ParseStatus
{
    Parsed,

    /// <summary>Not a well-formed event: 400.</summary>
    Malformed,

    /// <summary>Well-formed but not ours to handle (another table, another type): 422.</summary>
    Unsupported,
}

public readonly record struct ParseResult(ParseStatus Status, AuthEvent? Event, string? Problem)
{
    public static ParseResult Ok(AuthEvent authEvent) => new(ParseStatus.Parsed, authEvent, null);

    public static ParseResult Malformed(string problem) => new(ParseStatus.Malformed, null, problem);

    public static ParseResult Unsupported(string problem) => new(ParseStatus.Unsupported, null, problem);
}

/// <summary>
/// Reads a Supabase Database Webhook body (<c>type, table, schema, record, old_record</c>, rows with database column
/// names) or an Auth Hook body (<c>metadata, user</c>, with API names). Only the fields a profile needs are read.
/// </summary>
public static class AuthEventParser
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    public static ParseResult Parse(ReadOnlyMemory<byte> body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Options);
        }
        catch (JsonException)
        {
            return ParseResult.Malformed("the body is not JSON");
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
            case "UPDATE":
                var user = ReadUser(RequiredObject(root, "record"), "record", "raw_user_meta_data");
                return ParseResult.Ok(new AuthEvent(type == "INSERT" ? AuthEventType.Insert : AuthEventType.Update, user.Id, user));
            case "DELETE":
                var old = RequiredObject(root, "old_record");
                return ParseResult.Ok(new AuthEvent(AuthEventType.Delete, RequiredGuid(old, "id", "old_record"), null));
            default:
                return ParseResult.Unsupported($"event type '{Echo(type)}' is not handled; only INSERT, UPDATE and DELETE");
        }
    }

    private static ParseResult ParseAuthHook(JsonElement root)
    {
        string? name = null;
        if (root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("name", out var nameElement) && nameElement.ValueKind == JsonValueKind.String)
        {
            name = nameElement.GetString();
        }

        var user = ReadUser(RequiredObject(root, "user"), "user", "user_metadata");
        return ParseResult.Ok(new AuthEvent(AuthEventType.Hook, user.Id, user, name));
    }

    private static AuthUser ReadUser(JsonElement row, string where, string metadataName) => new(
        RequiredGuid(row, "id", where),
        OptionalString(row, "email", where),
        OptionalString(row, "phone", where),
        row.TryGetProperty(metadataName, out var metadata) && metadata.ValueKind == JsonValueKind.Object
            ? metadata.GetRawText()
            : null,
        OptionalTimestamp(row, "banned_until", where),
        OptionalTimestamp(row, "deleted_at", where),
        OptionalTimestamp(row, "updated_at", where));

    // Values from the body go back in answers and logs: keep them short.
    private static string Echo(string value) => value.Length <= 63 ? value : value[..63];

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
        && Guid.TryParse(value.GetString(), out var id)
            ? id
            : throw new FormatException($"'{where}.{name}' must be a UUID");

    private static string? OptionalString(JsonElement row, string name, string where)
    {
        if (!row.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new FormatException($"'{where}.{name}' must be a string or null");
    }

    private static DateTimeOffset? OptionalTimestamp(JsonElement row, string name, string where)
    {
        var text = OptionalString(row, name, where);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        // PostgreSQL writes "2024-05-01T10:00:00.123456+00:00"; the Auth API writes RFC 3339.
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time.ToUniversalTime()
            : throw new FormatException($"'{where}.{name}' must be a timestamp");
    }
}
