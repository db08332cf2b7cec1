using System.Text.Json;

namespace ProfileSync.Tests.Support;

/// <summary>Bodies as Supabase sends them, and the settings the tests serve them with (signed by <see cref="StandardWebhooks"/>).</summary>
public static class SupabaseEvents
{
    public const string Secret = StandardWebhooks.TestSecret;
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
