using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

using ProfileSync.Http;

namespace ProfileSync.Events;

/// <summary>
/// Authenticates an event before anything in it is parsed: a Standard Webhooks signature over the raw body
/// (<c>webhook-id.webhook-timestamp.body</c>, HMAC-SHA256), or <c>Authorization: Bearer</c>. Constant-time compares.
/// </summary>
public sealed class WebhookAuthenticator
{
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    private readonly IReadOnlyList<byte[]> _secrets;
    private readonly SecretKey _token;
    private readonly TimeProvider _clock;

    public WebhookAuthenticator(IOptions<ProfileSyncOptions> options, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(options);
        _secrets = WebhookSecrets.Parse(options.Value.WebhookSecret);
        _token = new SecretKey(options.Value.WebhookBearerToken);
        _clock = clock;
    }

    /// <param name="id">webhook-id header</param>
    /// <param name="timestamp">webhook-timestamp header (Unix seconds)</param>
    /// <param name="signatures">webhook-signature header: <c>v1,&lt;base64&gt;</c> items separated by spaces or <c>", "</c></param>
    /// <param name="authorization">Authorization header</param>
    /// <param name="body">the raw body, exactly as received</param>
    public bool IsAuthentic(string? id, string? timestamp, string? signatures, string? authorization, ReadOnlySpan<byte> body)
    {
        if (!string.IsNullOrEmpty(signatures))
        {
            return _secrets.Count > 0 && IsSignatureValid(id, timestamp, signatures, body);
        }

        return _token.IsConfigured && IsBearerValid(authorization);
    }

    private bool IsSignatureValid(string? id, string? timestamp, string signatures, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 256 || string.IsNullOrEmpty(timestamp)
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }

        // Whole seconds on both sides, as the timestamp is: a window as wide behind the clock as ahead of it.
        var now = _clock.GetUtcNow().ToUnixTimeSeconds();
        if (seconds < now - (long)Tolerance.TotalSeconds || seconds > now + (long)Tolerance.TotalSeconds)
        {
            return false;
        }

        var candidates = ParseSignatures(signatures);
        if (candidates.Count == 0)
        {
            return false;
        }

        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));

        var valid = false;
        foreach (var secret in _secrets)
        {
            var expected = HMACSHA256.HashData(secret, content);
            foreach (var candidate in candidates)
            {
                // No early exit: the time taken does not depend on which secret or signature matched.
                valid |= CryptographicOperations.FixedTimeEquals(expected, candidate);
            }
        }

        return valid;
    }

    private static List<byte[]> ParseSignatures(string header)
    {
        var signatures = new List<byte[]>();
        foreach (var item in header.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var signature = item.TrimEnd(',');
            if (!signature.StartsWith("v1,", StringComparison.Ordinal))
            {
                continue;
            }

            var bytes = new byte[32];
            if (Convert.TryFromBase64String(signature[3..], bytes, out var written) && written == bytes.Length)
            {
                signatures.Add(bytes);
            }
        }

        return signatures;
    }

    private bool IsBearerValid(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return _token.Matches(authorization[scheme.Length..].Trim());
    }
}

/// <summary>Supabase's form of Standard Webhooks secrets: <c>v1,whsec_&lt;base64&gt;</c>, several joined by <c>|</c>.</summary>
public static class WebhookSecrets
{
    public static IReadOnlyList<byte[]> Parse(string? setting)
    {
        if (string.IsNullOrWhiteSpace(setting))
        {
            return [];
        }

        return setting.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(ParseOne)
            .ToList();
    }

    /// <summary>Why the setting is unusable, or null when it is fine. Never echoes the secret.</summary>
    public static string? Problem(string? setting)
    {
        try
        {
            _ = Parse(setting);
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    private static byte[] ParseOne(string secret)
    {
        var value = secret.StartsWith("v1,", StringComparison.Ordinal) ? secret[3..] : secret;
        if (!value.StartsWith("whsec_", StringComparison.Ordinal))
        {
            throw new FormatException("each secret must look like v1,whsec_<base64>");
        }

        byte[] key;
        try
        {
            key = Convert.FromBase64String(value["whsec_".Length..]);
        }
        catch (FormatException)
        {
            throw new FormatException("a secret's part after whsec_ is not base64");
        }

        return key.Length >= 16 ? key : throw new FormatException("each secret must decode to at least 16 bytes");
    }
}
