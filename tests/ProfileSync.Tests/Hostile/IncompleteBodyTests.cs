using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Hostile;

/// <summary>
/// Bodies that never arrive, sent by anyone (no signature is needed to start one) over raw sockets to
/// <c>profilesync serve</c>: slower than Kestrel's minimum data rate, cut short, badly chunked.
/// </summary>
public sealed class IncompleteBodyTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    private const int EachKind = 500;

    [Fact]
    public async Task A_flood_of_bodies_that_never_arrive_is_answered_400_counted_and_logged_in_a_line_or_two()
    {
        var logs = new CapturedLogs();
        await using var app = await ServedApp.StartAsync(Db, throughPooler: false, logs);
        using var counted = new IncompleteBodyCounter();
        var startup = logs.Lines.Count;

        var slow = Enumerable.Range(0, EachKind).Select(_ => SendAsync(app, "Content-Length: 100", "{\"type\":\"INS", cut: false));
        var chunked = Enumerable.Range(0, EachKind).Select(_ => SendAsync(app, "Transfer-Encoding: chunked", "zz\r\nabc\r\n0\r\n\r\n", cut: false));
        var cut = Enumerable.Range(0, EachKind).Select(_ => SendAsync(app, "Content-Length: 100", "{\"type\":\"INS", cut: true));
        var answers = await Task.WhenAll(slow.Concat(chunked).Concat(cut));

        var (slowAnswers, chunkedAnswers, cutAnswers) = (answers[..EachKind], answers[EachKind..(2 * EachKind)], answers[(2 * EachKind)..]);
        Assert.All(slowAnswers, a => Assert.Equal(("400", """{"error":"the body did not arrive in time"}"""), a));
        Assert.All(chunkedAnswers, a => Assert.Equal(("400", """{"error":"the body did not arrive whole (shorter than its Content-Length, or badly chunked)"}"""), a));
        // The sender closed its side: the server has nobody left to answer, and answers nothing else either.
        Assert.All(cutAnswers, a => Assert.Equal(("", ""), a));
        await Eventually.HoldsAsync(() => Task.FromResult(counted.Count == 3 * EachKind));

        var visible = logs.Lines.Skip(startup).Where(l => l.Level >= LogLevel.Information).ToList();
        Assert.InRange(visible.Count, 1, 2); // 1,500 in about 6 s, one line per 10 s
        Assert.All(visible, l => Assert.StartsWith("Auth event without a whole body: ", l.Message, StringComparison.Ordinal));
        Assert.InRange(visible.Sum(l => l.Message.Length), 1, 400);
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains("unhandled", StringComparison.OrdinalIgnoreCase));
    }

    /// <returns>the status and body answered, or empty strings when the server closed without answering</returns>
    private static async Task<(string Status, string Body)> SendAsync(ServedApp app, string header, string bodyStart, bool cut)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(app.Client.BaseAddress!.Host, app.Client.BaseAddress.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /api/auth-events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{header}\r\n\r\n{bodyStart}"));
        if (cut)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, deadline.Token)) > 0)
            {
                received.Write(buffer, 0, read);
                if (Encoding.ASCII.GetString(received.ToArray()).EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
                {
                    break;
                }
            }
        }
        catch (SocketException)
        {
            // reset by the server: no answer
        }

        var text = Encoding.UTF8.GetString(received.ToArray());
        if (text.Length == 0)
        {
            return ("", "");
        }

        // HTTP/1.1 400 Bad Request ... \r\n\r\n<chunk size>\r\n<body>\r\n0\r\n\r\n
        var status = text.Split(' ', 3)[1];
        var chunks = text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..].Split("\r\n");
        return (status, chunks.Length > 1 ? chunks[1] : "");
    }

    /// <summary>profilesync.events measurements with the outcome incomplete_body.</summary>
    private sealed class IncompleteBodyCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _count;

        public IncompleteBodyCounter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "ProfileSync" && instrument.Name == "profilesync.events")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag is { Key: "profilesync.outcome", Value: "incomplete_body" })
                    {
                        Interlocked.Add(ref _count, value);
                    }
                }
            });
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }
}
