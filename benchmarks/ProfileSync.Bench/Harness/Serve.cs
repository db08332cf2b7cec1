using System.Collections.Concurrent;
using ProfileSync.TestKit;

namespace ProfileSync.Bench.Harness;

/// <summary><c>profilesync serve</c> as the benchmark runs it: the kit's process, logging as a tuned deployment would.</summary>
internal static class Serve
{
    /// <summary>Every serve process started, for an interrupted run to stop.</summary>
    public static ConcurrentBag<ServeProcess> Started { get; } = [];

    /// <returns>the process, answering, and the time from its start to its first 200 from /api/health</returns>
    public static async Task<(ServeProcess Process, TimeSpan FirstOk)> StartAsync(string connectionString)
    {
        var serve = new ServeProcess(new Dictionary<string, string>
        {
            ["ProfileSync__ConnectionString"] = connectionString,
            ["ProfileSync__WebhookSecret"] = StandardWebhooks.TestSecret,
            ["Logging__LogLevel__Default"] = "Warning", // as a tuned deployment would; Information costs a line per event
        });
        Started.Add(serve);
        return (serve, await serve.StartAsync());
    }

    /// <summary>A Database Webhook INSERT for the user, signed as Supabase signs it.</summary>
    public static HttpRequestMessage SignedInsert(Guid id) => StandardWebhooks.SignedRequest(new Uri("/api/auth-events", UriKind.Relative),
        $$"""{"type":"INSERT","table":"users","schema":"auth","record":{"id":"{{id}}"},"old_record":null}""");
}
