using System.Diagnostics;
using System.Net;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using ProfileSync.Cli;
using ProfileSync.Telemetry;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Telemetry;

[CollectionDefinition(nameof(TelemetryTests), DisableParallelization = true)]
public sealed class TelemetryRunsAlone;

/// <summary>
/// Spans and metrics, seen as an exporter sees them. Alone in its collection: the ActivitySource and Meter are
/// process-wide, and other tests' events would count here.
/// </summary>
[Collection(nameof(TelemetryTests))]
public sealed class TelemetryTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    [Fact]
    public async Task Each_event_has_a_span_and_metrics_by_type_outcome_and_status_and_none_carries_personal_data()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource(ProfileSyncTelemetry.Name).AddNpgsql().AddInMemoryExporter(spans).Build();
        using var metering = Sdk.CreateMeterProviderBuilder().AddMeter(ProfileSyncTelemetry.Name).AddInMemoryExporter(metrics).Build();
        var userId = await Db.SignUpAsync(email: "traced@example.com", userMetadata: """{"full_name":"Traced Person"}""");
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());

        Assert.Equal((HttpStatusCode.OK, "created"), await served.SendAsync(SupabaseEvents.Insert(userId, "traced@example.com")));
        Assert.Equal((HttpStatusCode.OK, "unchanged"), await served.SendAsync(SupabaseEvents.Update(userId, "traced@example.com")));
        Assert.Equal(HttpStatusCode.Unauthorized, (await served.SendAsync(SupabaseEvents.Insert(userId), secret: "v1,whsec_d3JvbmctMDEyMzQ1Njc4OWFiY2RlZg==")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await served.SendAsync("{\"type\":")).Status);
        var report = await CliRunner.RunAsync("replay", "--json", "--connection", Db.ConnectionString());
        Assert.Equal(0, report.ExitCode);
        tracing.ForceFlush();
        metering.ForceFlush();

        var events = spans.Where(s => s.OperationName == "profilesync.event").ToList();
        Assert.Equal(
            ["insert created 200", "update unchanged 200", "unknown unauthorized 401", "unknown rejected 400"],
            events.Select(s => $"{s.GetTagItem("profilesync.event.type")} {s.GetTagItem("profilesync.outcome")} {s.GetTagItem("http.response.status_code")}"));
        Assert.Equal(userId.ToString(), events[0].GetTagItem("enduser.id"));
        // The event's trace reaches the shared convergence call and Npgsql's command under it.
        var converge = spans.First(s => s.OperationName == "profilesync.converge" && (s.ParentSpanId == events[0].SpanId || s.Links.Any(l => l.Context.SpanId == events[0].SpanId)));
        Assert.Contains(spans, s => s.Source.Name == "Npgsql" && s.ParentSpanId == converge.SpanId);
        Assert.Contains(spans, s => s.OperationName == "profilesync.replay.pass");
        foreach (var span in spans)
        {
            var text = span.DisplayName + string.Join(' ', span.TagObjects.Select(t => $"{t.Key}={t.Value}"));
            Assert.DoesNotContain("traced@example.com", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Traced Person", text, StringComparison.Ordinal);
        }

        Assert.Equal(1, Sum(metrics, "profilesync.events", ("profilesync.event.type", "insert"), ("profilesync.outcome", "created"), ("http.response.status_code", 200)));
        Assert.Equal(1, Sum(metrics, "profilesync.events", ("profilesync.outcome", "unauthorized"), ("http.response.status_code", 401)));
        Assert.Equal(1, Sum(metrics, "profilesync.events", ("profilesync.outcome", "rejected"), ("http.response.status_code", 400)));
        var duration = metrics.Single(m => m.Name == "profilesync.event.duration");
        Assert.Equal(("s", MetricType.Histogram), (duration.Unit, duration.MetricType));
        Assert.Equal(1, Sum(metrics, "profilesync.replay.runs", ("profilesync.trigger", "cli"), ("profilesync.result", "completed")));
        Assert.Equal(0, Gauge(metrics, "profilesync.drift.users_without_profile")); // the event made the one profile
        Assert.All(metrics, m => Assert.False(string.IsNullOrEmpty(m.Description), m.Name));
    }

    [Fact]
    public async Task An_outage_is_counted_as_unavailable_503_with_its_retries_and_the_drift_a_reconcile_found_is_a_gauge()
    {
        var metrics = new List<Metric>();
        using var metering = Sdk.CreateMeterProviderBuilder().AddMeter(ProfileSyncTelemetry.Name).AddInMemoryExporter(metrics).Build();
        await Db.SignUpAsync(email: "missing-1@example.com");
        await Db.SignUpAsync(email: "missing-2@example.com");
        await using (var down = await ServedApp.StartAsync("Host=127.0.0.1;Port=1;Username=postgres;Password=postgres;Timeout=1",
                         new Dictionary<string, string?> { ["ProfileSync:Resilience:Deadline"] = "00:00:01" }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await down.SendAsync(SupabaseEvents.Insert(Guid.NewGuid()))).Status);
        }

        Assert.Equal(0, (await CliRunner.RunAsync("replay", "--dry-run", "--connection", Db.ConnectionString())).ExitCode);
        metering.ForceFlush();

        Assert.Equal(1, Sum(metrics, "profilesync.events", ("profilesync.outcome", "unavailable"), ("http.response.status_code", 503)));
        Assert.True(Sum(metrics, "profilesync.database.retries") >= 1);
        Assert.Equal(2, Gauge(metrics, "profilesync.drift.users_without_profile"));
        Assert.Equal(1, Sum(metrics, "profilesync.replay.runs", ("profilesync.dry_run", true)));
    }

    [Fact]
    public async Task A_signup_hook_the_database_could_not_take_is_counted_and_logged_as_deferred_and_answered_200()
    {
        var metrics = new List<Metric>();
        using var metering = Sdk.CreateMeterProviderBuilder().AddMeter(ProfileSyncTelemetry.Name).AddInMemoryExporter(metrics).Build();
        var logs = new CapturedLogs();
        await using (var down = await ServedApp.StartAsync("Host=127.0.0.1;Port=1;Username=postgres;Password=postgres;Timeout=1", logs: logs))
        {
            var answer = await SupabaseAuthHookClient.CallAsync(down.Client, down.AuthEvents,
                SupabaseAuthHookClient.Body("after-user-created", Guid.NewGuid(), "later@example.com"), SupabaseEvents.Secret);
            Assert.Equal((null, "deferred"), (answer.Refusal, answer.Outcome));
        }

        metering.ForceFlush();

        Assert.Equal(1, Sum(metrics, "profilesync.events", ("profilesync.event.type", "after_user_created"), ("profilesync.outcome", "deferred"),
            ("http.response.status_code", 200)));
        var line = Assert.Single(logs.Lines, l => l.Message.Contains("deferred", StringComparison.Ordinal));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, line.Level);
        Assert.Contains("the fallback trigger or the reconcile makes the profile", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_exports_metrics_and_traces_over_otlp_when_the_standard_variables_say_so()
    {
        await using var receiver = await OtlpReceiver.StartAsync();

        var userId = await Db.SignUpAsync(email: "exported@example.com");
        await using var serve = new LoggedServeProcess(Db.ConnectionString(), new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "profilesync-under-test",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        });
        await serve.StartAsync();
        using var client = new HttpClient { BaseAddress = serve.BaseAddress };
        using var signed = StandardWebhooks.SignedRequest(new Uri(serve.BaseAddress, "/api/auth-events?planted@example.com"), SupabaseEvents.Insert(userId));
        signed.Headers.TryAddWithoutValidation("User-Agent", "planted@example.com");
        signed.Headers.Host = "planted.example.com";
        using var response = await client.SendAsync(signed);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Caller-written text in every part of a request that a span could keep.
        using var unmatched = new HttpRequestMessage(HttpMethod.Get, new Uri(serve.BaseAddress, "/api/planted@example.com/x"));
        unmatched.Headers.TryAddWithoutValidation("User-Agent", "planted@example.com");
        using var notFound = await client.SendAsync(unmatched);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);

        // The first metric export may come before the event: wait for one that counts it.
        await Eventually.HoldsAsync(() => Task.FromResult(
            receiver.Received("metrics").Contains("profilesync.events", StringComparison.Ordinal)
            && receiver.Received("traces").Contains("profilesync.event", StringComparison.Ordinal)));
        var everything = receiver.Received("metrics") + receiver.Received("traces");
        Assert.Contains("profilesync-under-test", everything, StringComparison.Ordinal);
        Assert.Contains("profilesync.events", everything, StringComparison.Ordinal);
        Assert.Contains("profilesync.event", everything, StringComparison.Ordinal);
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Received("traces").Contains("(not a route)", StringComparison.Ordinal)));
        everything = receiver.Received("metrics") + receiver.Received("traces");
        Assert.DoesNotContain("exported@example.com", everything, StringComparison.Ordinal);
        Assert.DoesNotContain("planted", everything, StringComparison.Ordinal);
        Assert.Contains("/api/auth-events", everything, StringComparison.Ordinal);
    }

    private static long Sum(List<Metric> metrics, string name, params (string Key, object Value)[] tags)
    {
        long total = 0;
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var pointTags = new Dictionary<string, object?>();
                foreach (var tag in point.Tags)
                {
                    pointTags[tag.Key] = tag.Value;
                }

                if (tags.All(t => pointTags.TryGetValue(t.Key, out var value) && Equals(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture), Convert.ToString(t.Value, System.Globalization.CultureInfo.InvariantCulture))))
                {
                    total += point.GetSumLong();
                }
            }
        }

        return total;
    }

    private static long Gauge(List<Metric> metrics, string name)
    {
        var last = -1L;
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                last = point.GetGaugeLastValueLong();
            }
        }

        return last;
    }
}
