using Microsoft.Extensions.Logging;

namespace ProfileSync.Tests.Support;

/// <summary>What the logs of serve (and the function app) may hold, checked over every line a suite captured.</summary>
public static class LogAudit
{
    /// <summary>Text that marks PostgreSQL error detail or context, or secrets and hashes, wherever it comes from.</summary>
    private static readonly string[] NeverLogged =
    [
        "Where:", "DETAIL:", "Detail:", "CONTEXT:", "Context:", "JSON data", "$2a$", "whsec_",
        SupabaseEvents.BearerToken, SupabaseEvents.AdminKey, "dGVzdC1zZWNyZXQ",
    ];

    /// <summary>
    /// Every line at every level: no e-mail, metadata value, body, secret or PostgreSQL detail/context, only printable
    /// ASCII (and line breaks between an exception's lines). At Information and above: one line per event from the
    /// handler, and nothing from Npgsql (SQL text) or Polly (attempts).
    /// </summary>
    /// <param name="requests">how many events the suite sent</param>
    /// <param name="personal">e-mails, names and other values the bodies and auth.users held</param>
    public static void Check(CapturedLogs logs, int requests, IEnumerable<string> personal)
    {
        ArgumentNullException.ThrowIfNull(logs);
        Assert.Equal(requests, Check(logs.Lines, personal));
    }

    /// <summary>The same checks over any lines (a process's console); returns how many lines the handler wrote at Information and above.</summary>
    public static int Check(IEnumerable<LogLine> captured, IEnumerable<string> personal)
    {
        var lines = captured.ToList();
        var forbidden = NeverLogged.Concat(personal).ToList();
        foreach (var line in lines)
        {
            var leak = forbidden.FirstOrDefault(text => line.Message.Contains(text, StringComparison.OrdinalIgnoreCase));
            Assert.True(leak is null, $"the log holds '{leak}': {line}");
            Assert.True(line.Message.All(c => c == '\n' || c is >= ' ' and <= '~'), $"a log line holds a control or non-ASCII character: {Escape(line)}");
        }

        var visible = lines.Where(line => line.Level >= LogLevel.Information && !line.Category.StartsWith("Microsoft.Hosting.Lifetime", StringComparison.Ordinal)).ToList();
        Assert.All(visible, line => Assert.StartsWith("ProfileSync.", line.Category, StringComparison.Ordinal));
        return visible.Count(line => line.Category == "ProfileSync.Events.AuthEventsHandler");
    }

    private static string Escape(LogLine line) =>
        string.Concat(line.ToString().Select(c => c is >= ' ' and <= '~' or '\n' ? c.ToString() : $"\\u{(int)c:x4}"));
}
