using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace ProfileSync.TestKit;

/// <summary>
/// Signs requests as Supabase does, by Standard Webhooks: <c>webhook-id</c>, <c>webhook-timestamp</c> and
/// <c>webhook-signature: v1,&lt;base64 HMAC-SHA256 of "id.timestamp.body"&gt;</c>. Checked against vectors made outside
/// this code base (WebhookAuthenticatorTests), so the product's verifier is not tested against its own mirror image.
/// </summary>
public static class StandardWebhooks
{
    /// <summary>The secret the tests and the benchmark configure; its key is <c>test-secret-0123456789abcdef</c>.</summary>
    public const string TestSecret = "v1,whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";

    /// <summary>A POST of the body to <paramref name="uri"/> (absolute, or relative to a client's base address), signed now.</summary>
    public static HttpRequestMessage SignedRequest(Uri uri, string body, string secret = TestSecret) =>
        SignedRequest(uri, Encoding.UTF8.GetBytes(body), secret);

    /// <summary>The same for any bytes: not necessarily UTF-8 or JSON, as hostile senders send them.</summary>
    public static HttpRequestMessage SignedRequest(Uri uri, byte[] body, string secret = TestSecret)
    {
        var id = "msg_" + Guid.NewGuid().ToString("N");
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = content };
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp);
        request.Headers.Add("webhook-signature", Sign(secret, id, timestamp, body));
        return request;
    }

    public static string Sign(string secret, string id, string timestamp, string body) => Sign(secret, id, timestamp, Encoding.UTF8.GetBytes(body));

    /// <summary>The <c>webhook-signature</c> value for one message, with a secret in Supabase's form <c>v1,whsec_&lt;base64&gt;</c>.</summary>
    public static string Sign(string secret, string id, string timestamp, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var key = Convert.FromBase64String(secret[(secret.IndexOf("whsec_", StringComparison.Ordinal) + "whsec_".Length)..]);
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, (byte[])[.. Encoding.UTF8.GetBytes($"{id}.{timestamp}."), .. body]));
    }
}
