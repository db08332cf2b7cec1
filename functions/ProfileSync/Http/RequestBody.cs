using Microsoft.AspNetCore.Http;

namespace ProfileSync.Http;

/// <summary>Reads a request body up to a limit without buffering more than the limit.</summary>
public static class RequestBody
{
    /// <summary>
    /// The body; or that it is over <paramref name="limit"/> bytes; or that it did not arrive whole (slower than the
    /// server's minimum data rate, shorter than its Content-Length, badly chunked, or the sender went away), which the
    /// server reports by an exception that would otherwise escape the handler.
    /// </summary>
    public static async Task<BodyRead> ReadAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength > limit)
        {
            return BodyRead.TooLarge;
        }

        var buffer = new byte[Math.Min(limit + 1, (int?)request.ContentLength + 1 ?? 16 * 1024)];
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    Array.Resize(ref buffer, Math.Min(limit + 1, buffer.Length * 2));
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    return new BodyRead(BodyStatus.Read, buffer.AsMemory(0, length), null);
                }

                length += read;
                if (length > limit)
                {
                    return BodyRead.TooLarge;
                }
            }
        }
        catch (BadHttpRequestException e)
        {
            return BodyRead.Incomplete(e.StatusCode == StatusCodes.Status408RequestTimeout
                ? "the body did not arrive in time"
                : "the body did not arrive whole (shorter than its Content-Length, or badly chunked)");
        }
        catch (Exception e) when (e is IOException || (e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            return BodyRead.Incomplete("the body did not arrive whole (the connection was cut)");
        }
    }

    /// <summary>Answers a body that was not read: 413 when over the limit, 400 when it did not arrive whole.</summary>
    public static async Task AnswerAsync(HttpContext context, BodyRead read, int limit)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (status, error) = read.Status == BodyStatus.TooLarge
            ? (StatusCodes.Status413PayloadTooLarge, $"the body is over {limit} bytes")
            : (StatusCodes.Status400BadRequest, read.Problem!);
        try
        {
            await JsonResponses.WriteAsync(context, status, new ErrorBody(error));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The sender is gone: nobody is left to answer.
        }
    }
}

public enum BodyStatus
{
    Read,
    TooLarge,
    Incomplete,
}

/// <summary>What reading a request body gave: the body, or why there is none.</summary>
public readonly record struct BodyRead(BodyStatus Status, ReadOnlyMemory<byte> Body, string? Problem)
{
    public static BodyRead TooLarge => new(BodyStatus.TooLarge, default, null);

    public static BodyRead Incomplete(string problem) => new(BodyStatus.Incomplete, default, problem);
}
