using System.Net;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Hostile;

/// <summary>
/// The bodies in <c>Hostile/BadBodies</c>, each signed as Supabase signs (so the parser and the database see it), over
/// real HTTP. A file's name starts with the status it must get. After each one, the profiles are what auth.users
/// implies (a 200) or untouched (anything else): a body never decides what is written.
/// </summary>
public sealed class BadBodyCorpusTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    /// <summary>The user the corpus names; <c>22222222-…</c>, also named, has no auth user.</summary>
    private static readonly Guid Known = Guid.Parse("11111111-1111-4111-8111-111111111111");

    private static readonly string[] Personal = ["corpus@example.com", "truth@example.com", "Truth Name", "Robert'", "hook@example.com"];

    public static IEnumerable<(string Name, HttpStatusCode Expected, byte[] Body)> Corpus() =>
        Directory.GetFiles(Path.Combine(Repository.Root, "tests", "ProfileSync.Tests", "Hostile", "BadBodies"))
            .Order(StringComparer.Ordinal)
            .Select(path => Path.GetFileNameWithoutExtension(path))
            .Select(name => (name, (HttpStatusCode)int.Parse(name[..3], System.Globalization.CultureInfo.InvariantCulture),
                File.ReadAllBytes(Path.Combine(Repository.Root, "tests", "ProfileSync.Tests", "Hostile", "BadBodies", name + ".json"))));

    [Fact]
    public async Task Every_corpus_body_gets_its_status_and_changes_nothing_a_body_could_decide()
    {
        var corpus = Corpus().ToList();
        Assert.True(corpus.Count >= 50, $"the corpus holds {corpus.Count} bodies");
        await Db.SignUpAsync(email: "truth@example.com", userMetadata: """{"full_name":"Truth Name"}""", id: Known);
        var logs = new CapturedLogs();
        await using var served = await ServedApp.StartAsync(Db.ConnectionString(), logs: logs);
        var derived = await Truth.DerivedAsync(Db);

        var wrong = new List<string>();
        foreach (var (name, expected, body) in corpus)
        {
            await Db.ExecuteAsync("delete from public.user_profiles");
            var (status, _) = await served.SendAsync(body);
            var profiles = await Truth.ProfilesAsync(Db);
            if (status != expected)
            {
                wrong.Add($"{name}: answered {(int)status}");
            }

            // A 200 converges from auth.users (or finds no user); anything else writes nothing.
            var allowed = status == HttpStatusCode.OK ? derived : [];
            if (profiles.Except(allowed).Any())
            {
                wrong.Add($"{name}: wrote {string.Join(", ", profiles.Except(allowed))}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join('\n', wrong));
        LogAudit.Check(logs, corpus.Count, Personal);
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413_with_or_without_a_length_and_one_under_it_is_read()
    {
        await Db.SignUpAsync(email: "truth@example.com", id: Known);
        await using var served = await ServedApp.StartAsync(Db.ConnectionString(), new Dictionary<string, string?> { ["ProfileSync:MaxEventBytes"] = "65536" });
        var padding = new string('x', 60_000);
        var under = System.Text.Encoding.UTF8.GetBytes(SupabaseEvents.Insert(Known, metadata: new { padding }));
        var over = System.Text.Encoding.UTF8.GetBytes(SupabaseEvents.Insert(Known, metadata: new { padding = padding + padding }));

        Assert.Equal(HttpStatusCode.OK, (await served.SendAsync(under)).Status);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await served.SendAsync(over)).Status);
        using var chunked = StandardWebhooks.SignedRequest(served.AuthEvents, over);
        chunked.Content = new StreamContent(new MemoryStream(over)); // no Content-Length: sent chunked
        chunked.Headers.TransferEncodingChunked = true;
        using var response = await served.Client.SendAsync(chunked);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }
}
