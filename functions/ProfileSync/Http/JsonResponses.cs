using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ProfileSync.Http;

/// <summary>How every handler answers: JSON bodies, and 503 with Retry-After when the database is unavailable.</summary>
public static class JsonResponses
{
    /// <summary>Seconds a caller should wait before retrying when the database is unavailable.</summary>
    public const int RetryAfterSeconds = 2;

    // Relaxed: answers are application/json, never HTML, and reasons read better with their quotes.
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static async Task WriteAsync<T>(HttpContext context, int status, T body)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(body, Options, context.RequestAborted);
    }

    public static Task UnavailableAsync(HttpContext context, string error)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return WriteAsync(context, StatusCodes.Status503ServiceUnavailable, new ErrorBody(error));
    }
}

public sealed record ErrorBody(string Error);
