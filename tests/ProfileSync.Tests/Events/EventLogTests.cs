using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProfileFunctions;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Events;

/// <summary>The function app's container on a real database: what its logs hold for an event, at every level.</summary>
public sealed class EventLogTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    [Fact]
    public async Task Function_app_logs_one_line_per_event_with_sql_text_and_attempts_only_at_debug()
    {
        var userId = await Db.SignUpAsync(email: "logged@example.com", userMetadata: """{"full_name":"Logged Person"}""");
        var logs = new CapturedLogs();
        await using var services = TestServices.Build(Db.ConnectionString(), configure: s => s.AddLogging(l => l.SetMinimumLevel(LogLevel.Trace).AddProvider(logs)));
        var function = ActivatorUtilities.CreateInstance<AuthEventsFunction>(services);

        foreach (var body in new[] { SupabaseEvents.Insert(userId, "logged@example.com"), SupabaseEvents.Update(userId, "logged@example.com") })
        {
            var context = new DefaultHttpContext();
            var bytes = Encoding.UTF8.GetBytes(body);
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Request.Method = "POST";
            context.Request.Body = new MemoryStream(bytes);
            context.Request.Headers["webhook-id"] = "msg_\u001b[31mred\r\nforged line";
            context.Request.Headers["webhook-timestamp"] = timestamp;
            context.Request.Headers["webhook-signature"] = StandardWebhooks.Sign(SupabaseEvents.Secret, "msg_\u001b[31mred\r\nforged line", timestamp, bytes);
            context.Response.Body = new MemoryStream();
            await function.RunAsync(context.Request);
            Assert.Equal(200, context.Response.StatusCode);
        }

        LogAudit.Check(logs, 2, ["logged@example.com", "Logged Person"]);
        var applied = logs.Lines.Where(l => l.Level >= LogLevel.Information).Select(l => l.Message).ToList();
        Assert.Equal([$"Auth event msg_?[31mred??forged line Insert for user {userId}: Created", $"Auth event msg_?[31mred??forged line Update for user {userId}: Unchanged"], applied);
        Assert.Contains(logs.Lines, l => l.Level == LogLevel.Debug && l.Category.StartsWith("Npgsql", StringComparison.Ordinal) && l.Message.Contains("profile_sync.converge", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Level == LogLevel.Debug && l.Category == "Polly");
    }
}
