using System.Text.Json;
using Npgsql;
using ProfileSync;

namespace PgNetWorker;

/// <summary>
/// Delivers what <c>net.http_post</c> queued, as pg_net's background worker does on Supabase: in queue order, one
/// attempt per request, the outcome kept in <c>net._http_response</c>. Polls the queue: pg_net wakes its worker with a
/// latch that costs the caller nothing, and the NOTIFY that could stand in for it would serialize the callers' commits.
/// </summary>
public sealed class QueueDispatcher(NpgsqlDataSource dataSource, HttpClient http)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    // Taken off the queue before sending: a request is attempted once, never twice.
    private const string TakeSql = """
        delete from net.http_request_queue q
        where q.id = (select id from net.http_request_queue order by id for update skip locked limit 1)
        returning q.id, q.method, q.url, q.headers::text, q.body, q.timeout_milliseconds
        """;

    private const string RecordSql = """
        insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
        values ($1, $2, $3, $4::jsonb, $5, $6, $7)
        on conflict (id) do nothing
        """;

    public async Task RunAsync(Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await DrainAsync(log, cancellationToken);
            await Task.Delay(Poll, cancellationToken);
        }
    }

    /// <summary>Sends everything queued now; returns how many requests were attempted.</summary>
    public async Task<int> DrainAsync(Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        var attempted = 0;
        while (await TakeAsync(cancellationToken) is { } request)
        {
            attempted++;
            var outcome = await SendAsync(request, cancellationToken);
            await RecordAsync(request.Id, outcome, cancellationToken);
            log?.Invoke($"request {request.Id} {request.Method} {new Uri(request.Url).AbsolutePath}: {outcome.Status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? outcome.Error}");
        }

        return attempted;
    }

    private async Task<QueuedRequest?> TakeAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(TakeSql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new QueuedRequest(
            reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
            reader.IsDBNull(4) ? [] : reader.GetFieldValue<byte[]>(4), reader.GetInt32(5));
    }

    private async Task<Outcome> SendAsync(QueuedRequest queued, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(new HttpMethod(queued.Method), queued.Url) { Content = new ByteArrayContent(queued.Body) };
        foreach (var header in JsonDocument.Parse(queued.Headers).RootElement.EnumerateObject())
        {
            var value = header.Value.ToString();
            if (!request.Headers.TryAddWithoutValidation(header.Name, value))
            {
                request.Content.Headers.TryAddWithoutValidation(header.Name, value);
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(queued.TimeoutMilliseconds));
        try
        {
            using var response = await http.SendAsync(request, timeout.Token);
            var headers = JsonSerializer.Serialize(response.Headers.Concat(response.Content.Headers).ToDictionary(h => h.Key, h => string.Join(", ", h.Value)));
            return new Outcome((int)response.StatusCode, response.Content.Headers.ContentType?.ToString(), headers,
                await response.Content.ReadAsStringAsync(cancellationToken), false, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Outcome(null, null, null, null, true, $"Timeout of {queued.TimeoutMilliseconds} ms reached");
        }
        catch (HttpRequestException e)
        {
            return new Outcome(null, null, null, null, false, e.Message);
        }
    }

    private async Task RecordAsync(long id, Outcome outcome, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(RecordSql);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)outcome.Status ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
        command.Parameters.Add(SqlParameters.Text(outcome.ContentType));
        command.Parameters.Add(SqlParameters.Text(outcome.Headers));
        command.Parameters.Add(SqlParameters.Text(outcome.Content));
        command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = outcome.TimedOut });
        command.Parameters.Add(SqlParameters.Text(outcome.Error));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private sealed record QueuedRequest(long Id, string Method, string Url, string Headers, byte[] Body, int TimeoutMilliseconds);

    private sealed record Outcome(int? Status, string? ContentType, string? Headers, string? Content, bool TimedOut, string? Error);
}
