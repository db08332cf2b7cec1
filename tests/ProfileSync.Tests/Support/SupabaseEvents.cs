using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ProfileSync.Tests.Support;

/// <summary>Bodies as Supabase sends them, and their Standard Webhooks signatures (checked against openssl vectors in WebhookAuthenticatorTests).</summary>
public static class SupabaseEvents
{
    public const string Secret = "v1,whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="; // key test-secret-0123456789abcdef
    public const string BearerToken = "a-long-random-bearer-token-for-tests";
    public const string AdminKey = "an-admin-key-for-profilesync-serve-in-tests";

    public static readonly IReadOnlyDictionary<string, string?> Settings = new Dictionary<string, string?>
    {
        ["ProfileSync:WebhookSecret"] = Secret,
        ["ProfileSync:WebhookBearerToken"] = BearerToken,
        ["ProfileSync:AdminKey"] = AdminKey,
    };

    public static string Insert(Guid id, string? email = null, string? phone = null, object? metadata = null, DateTime? updatedAt = null) =>
        Webhook("INSERT", Row(id, email, phone, metadata, updatedAt), null);

    public static string Update(Guid id, string? email = null, string? phone = null, object? metadata = null, DateTime? updatedAt = null,
        DateTime? bannedUntil = null, DateTime? deletedAt = null) =>
        Webhook("UPDATE", Row(id, email, phone, metadata, updatedAt, bannedUntil, deletedAt), Row(id, email, phone, metadata, updatedAt));

    public static string Delete(Guid id) => Webhook("DELETE", null, Row(id, null, null, null, null));

    public static string Hook(Guid id, string? email = null, object? metadata = null, DateTime? updatedAt = null) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["metadata"] = new { uuid = Guid.NewGuid(), time = DateTime.UtcNow, name = "after-user-created", ip_address = "203.0.113.1" },
            ["user"] = new Dictionary<string, object?>
            {
                ["id"] = id, ["aud"] = "authenticated", ["email"] = email, ["user_metadata"] = metadata ?? new { },
                ["app_metadata"] = new { provider = "email" }, ["updated_at"] = updatedAt ?? DateTime.UtcNow, ["is_anonymous"] = false,
            },
        });

    /// <summary>Standard Webhooks headers for a body, signed now with <see cref="Secret"/>.</summary>
    public static HttpRequestMessage SignedRequest(Uri uri, string body, string? secret = Secret) =>
        SignedRequest(uri, Encoding.UTF8.GetBytes(body), secret);

    /// <summary>Standard Webhooks headers for any bytes (not necessarily UTF-8 or JSON), signed now.</summary>
    public static HttpRequestMessage SignedRequest(Uri uri, byte[] body, string? secret = Secret)
    {
        var id = "msg_" + Guid.NewGuid().ToString("N");
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = content };
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp);
        request.Headers.Add("webhook-signature", Sign(secret ?? Secret, id, timestamp, body));
        return request;
    }

    public static string Sign(string secret, string id, string timestamp, string body) => Sign(secret, id, timestamp, Encoding.UTF8.GetBytes(body));

    public static string Sign(string secret, string id, string timestamp, byte[] body)
    {
        var key = Convert.FromBase64String(secret[(secret.IndexOf("whsec_", StringComparison.Ordinal) + 6)..]);
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, (byte[])[.. Encoding.UTF8.GetBytes($"{id}.{timestamp}."), .. body]));
    }

    private static string Webhook(string type, Dictionary<string, object?>? record, Dictionary<string, object?>? oldRecord) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["type"] = type, ["table"] = "users", ["schema"] = "auth", ["record"] = record, ["old_record"] = oldRecord,
        });

    private static Dictionary<string, object?> Row(Guid id, string? email, string? phone, object? metadata, DateTime? updatedAt,
        DateTime? bannedUntil = null, DateTime? deletedAt = null) => new()
    {
        ["id"] = id, ["email"] = email, ["phone"] = phone, ["raw_user_meta_data"] = metadata ?? new { },
        ["raw_app_meta_data"] = new { provider = "email" }, ["encrypted_password"] = "$2a$10$hash", ["confirmation_token"] = "",
        ["banned_until"] = bannedUntil, ["deleted_at"] = deletedAt, ["is_anonymous"] = email is null && phone is null,
        ["updated_at"] = (updatedAt ?? DateTime.UtcNow).ToString("yyyy-MM-ddTHH:mm:ss.ffffffzzz", System.Globalization.CultureInfo.InvariantCulture),
        ["created_at"] = (updatedAt ?? DateTime.UtcNow).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    };
}
