using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ProfileSync.Tests.Support;

/// <summary>
/// Supabase Auth's HTTP hook client (supabase/auth <c>internal/hooks/hookshttp/hookshttp.go</c>): how it sends a
/// hook, and how it judges the answer. An answer it does not accept fails the end user's signup with a 500.
/// </summary>
public static class SupabaseAuthHookClient
{
    /// <summary>Every try of one hook call shares this budget.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(5);

    private static readonly string[] EmailProvider = ["email"];

    /// <summary>
    /// A POST as Auth makes it: a new UUID as <c>webhook-id</c> for each try, the Unix time, one signature per
    /// configured secret joined by <c>", "</c>, JSON, and no compression.
    /// </summary>
    public static HttpRequestMessage Request(Uri uri, string body, params string[] secrets)
    {
        var id = Guid.NewGuid().ToString();
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var bytes = Encoding.UTF8.GetBytes(body);
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = content };
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp);
        request.Headers.Add("webhook-signature", string.Join(", ", secrets.Select(secret => StandardWebhooks.Sign(secret, id, timestamp, bytes))));
        request.Headers.Add("Accept-Encoding", "identity");
        return request;
    }

    /// <summary>
    /// A user as Auth's After User Created hook sends it: <c>{"metadata":{…,"name":…},"user":{…}}</c>, the user with
    /// the API's names (models.User as JSON).
    /// </summary>
    public static string Body(string name, Guid userId, string email) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["metadata"] = new Dictionary<string, object?>
        {
            ["uuid"] = Guid.NewGuid(), ["time"] = DateTime.UtcNow, ["name"] = name, ["ip_address"] = "203.0.113.7",
        },
        ["user"] = new Dictionary<string, object?>
        {
            ["id"] = userId, ["aud"] = "authenticated", ["role"] = "authenticated", ["email"] = email, ["phone"] = "",
            ["app_metadata"] = new { provider = "email", providers = EmailProvider },
            ["user_metadata"] = new { email, email_verified = false, phone_verified = false, sub = userId },
            ["identities"] = Array.Empty<object>(), ["created_at"] = DateTime.UtcNow, ["updated_at"] = DateTime.UtcNow,
            ["is_anonymous"] = false,
        },
    });

    /// <summary>
    /// What Auth makes of an answer: null when it accepts it (204; 200 or 202 as <c>application/json</c> whose body
    /// is a JSON object or null, Auth's output type being a struct), else the error its caller gets. Auth refuses a
    /// body whose <c>error</c> has a message; the rule here is stricter: no <c>error</c> at all. 429 and 503 are tried again only with a <c>Retry-After</c>, within the same budget; an answer
    /// that is always 503 ends the same way.
    /// </summary>
    public static string? Refusal(HttpStatusCode status, string? contentType, string body, TimeSpan elapsed)
    {
        if (elapsed >= Budget)
        {
            return "Failed to reach hook within maximum time of 5 seconds";
        }

        switch (status)
        {
            case HttpStatusCode.NoContent:
                return null;
            case HttpStatusCode.OK or HttpStatusCode.Accepted:
                if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType != "application/json")
                {
                    return $"Invalid JSON response. Received content-type: {contentType}";
                }

                try
                {
                    using var document = JsonDocument.Parse(body);
                    return document.RootElement.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.Object when document.RootElement.TryGetProperty("error", out _) => "the hook answered an error",
                        JsonValueKind.Object => null,
                        _ => "Error unmarshaling JSON output.",
                    };
                }
                catch (JsonException)
                {
                    return "Error unmarshaling JSON output.";
                }

            case HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable:
                return "Service currently unavailable due to hook";
            case HttpStatusCode.BadRequest:
                return "Invalid payload sent to hook";
            case HttpStatusCode.Unauthorized:
                return "Hook requires authorization token";
            default:
                return $"Unexpected status code returned from hook: {(int)status}";
        }
    }

    /// <summary>Sends a hook as Auth does and returns its answer, timed, with Auth's verdict.</summary>
    public static async Task<HookAnswer> CallAsync(HttpClient client, Uri uri, string body, params string[] secrets)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var request = Request(uri, body, secrets);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        clock.Stop();
        var contentType = response.Content.Headers.ContentType?.ToString();
        return new HookAnswer(response.StatusCode, contentType, text, clock.Elapsed, Refusal(response.StatusCode, contentType, text, clock.Elapsed));
    }
}

/// <summary>An answer to a hook call and what Auth made of it (<see cref="Refusal"/> null: accepted).</summary>
public sealed record HookAnswer(HttpStatusCode Status, string? ContentType, string Body, TimeSpan Elapsed, string? Refusal)
{
    public string? Outcome => Status == HttpStatusCode.OK ? JsonDocument.Parse(Body).RootElement.GetProperty("outcome").GetString() : null;
}
