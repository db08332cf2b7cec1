using System.Net;
using System.Text;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Hostile;

/// <summary>
/// Seeded mutations of valid signed bodies over real HTTP: bit flips, odd bytes and escapes, broken structure, other
/// ids. Every answer must be one the contract has, none may hang, and afterwards every profile is what auth.users
/// implies. The seed is printed; <c>PROFILESYNC_FUZZ_SEED=N</c> replays a run, <c>PROFILESYNC_FUZZ_CASES=N</c> sizes it.
/// </summary>
public sealed class MutationFuzzerTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);

    private static readonly HashSet<HttpStatusCode> ContractAnswers =
    [
        HttpStatusCode.OK, HttpStatusCode.BadRequest, HttpStatusCode.Unauthorized, HttpStatusCode.RequestEntityTooLarge,
        HttpStatusCode.UnprocessableEntity,
    ];

    private static readonly string[] Personal = ["fuzz-", "Fuzzed Name", "+15550001"];

    [Fact]
    public async Task Thousands_of_mutated_signed_bodies_get_only_contract_answers_and_never_a_wrong_write()
    {
        var seed = Setting("PROFILESYNC_FUZZ_SEED") ?? Random.Shared.Next();
        var cases = Setting("PROFILESYNC_FUZZ_CASES") ?? 8000;
        var replay = $"seed {seed} (replay: PROFILESYNC_FUZZ_SEED={seed} PROFILESYNC_FUZZ_CASES={cases})";
        RunReport.Write("mutation fuzzer: " + replay);

        var users = new List<Guid>();
        for (var i = 0; i < 6; i++)
        {
            users.Add(await Db.SignUpAsync(
                email: i == 5 ? null : $"fuzz-{i}@example.com",
                phone: i >= 4 ? $"+1555000100{i}" : null,
                userMetadata: i % 2 == 0 ? """{"full_name":"Fuzzed Name"}""" : null,
                bannedUntil: i == 3 ? DateTime.UtcNow.AddDays(30) : null));
        }

        await Db.ExecuteAsync("select profile_sync.converge(array[$1, $2]::uuid[], 'replay')", "postgres", users[0], users[1]);
        var absent = new[] { Guid.NewGuid(), Guid.Empty };
        var valid = users.Concat(absent).SelectMany(id => new[]
        {
            SupabaseEvents.Insert(id, "fuzz-body@example.com", metadata: new { full_name = "Fuzzed Name" }),
            SupabaseEvents.Update(id, "fuzz-body@example.com", phone: "+15550001999", bannedUntil: DateTime.UtcNow.AddYears(1)),
            SupabaseEvents.Delete(id),
            SupabaseEvents.Hook(id, "fuzz-body@example.com", metadata: new { name = "Fuzzed Name" }),
        }).Select(Encoding.UTF8.GetBytes).ToList();

        var random = new Random(seed);
        var bodies = Enumerable.Range(0, cases).Select(_ => Mutate(valid[random.Next(valid.Count)], random, users)).ToList();
        var logs = new CapturedLogs();
        await using var served = await ServedApp.StartAsync(Db.ConnectionString(), logs: logs);
        served.Client.Timeout = TimeSpan.FromSeconds(10); // a hang fails the run
        var answers = new System.Collections.Concurrent.ConcurrentDictionary<HttpStatusCode, int>();
        var offContract = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var budget = new CancellationTokenSource(Budget);
        var sent = 0;

        await Parallel.ForEachAsync(Enumerable.Range(0, cases), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            if (budget.IsCancellationRequested)
            {
                return;
            }

            var (status, _) = await served.SendAsync(bodies[i]);
            Interlocked.Increment(ref sent);
            answers.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (!ContractAnswers.Contains(status))
            {
                offContract.Enqueue($"case {i} answered {(int)status}: {Convert.ToBase64String(bodies[i])}");
            }
        });

        var summary = $"{sent} of {cases} cases, {replay}: " + string.Join(", ", answers.OrderBy(a => a.Key).Select(a => $"{(int)a.Key}×{a.Value}"));
        RunReport.Write("mutation fuzzer: " + summary);
        Assert.True(offContract.IsEmpty, summary + "\n" + string.Join('\n', offContract.Take(20)));
        Assert.True(sent >= Math.Min(cases, 1000), "too few cases ran within the budget: " + summary);
        Assert.True(answers.GetValueOrDefault(HttpStatusCode.OK) > 0 && answers.Count > 2, "the mutations reached too few answers: " + summary);

        // Whatever the bodies said, a profile is what auth.users implies, and only auth users have one.
        var derived = await Truth.DerivedAsync(Db);
        var profiles = await Truth.ProfilesAsync(Db);
        Assert.True(!profiles.Except(derived).Any(), $"{replay}: wrong profiles {string.Join(", ", profiles.Except(derived))}");
        LogAudit.Check(logs, sent, Personal);
    }

    private static int? Setting(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>Bytes that break JSON, UTF-8, Unicode, types or ids wherever they land.</summary>
    private static readonly byte[][] Nasty =
    [
        .. new[]
        {
            @"\u0000", @"\ud800", @"\udfff", @"\ud83d\ude00", @"\uffff", @"\u001b[31m", "\"", @"\", @"\\", "{", "[", "}", "]", ":", ",",
            "null", "true", "1e99999", "-0.0", "'; drop table public.user_profiles; --", "\n", "\"INSERT\"", "\"DELETE\"", "\"TRUNCATE\"",
            "\"auth\"", "\"users\"", "\"identities\"", "00000000-0000-0000-0000-000000000000", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            new string('a', 300), "\"type\":\"DELETE\",", "\"id\":\"not-a-uuid\",", "\"user\":{\"id\":\"11111111-1111-4111-8111-111111111111\"},",
            "infinity", "294277-01-01T00:00:00Z",
        }.Select(Encoding.UTF8.GetBytes),
        [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0x00], [0xEF, 0xBB, 0xBF],
    ];

    private static byte[] Mutate(byte[] valid, Random random, List<Guid> users)
    {
        var bytes = new List<byte>(valid);
        for (var round = 1 + random.Next(3); round > 0 && bytes.Count > 0; round--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(9))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, Math.Min(1 + random.Next(16), bytes.Count - at));
                    break;
                case 3:
                    bytes.InsertRange(at, Nasty[random.Next(Nasty.Length)]);
                    break;
                case 4: // inside a string: right after an opening quote
                    bytes.InsertRange(AfterQuote(bytes, random) ?? at, Nasty[random.Next(Nasty.Length)]);
                    break;
                case 5: // another id: a real user's, in any place a uuid stood
                    var id = Encoding.UTF8.GetBytes(users[random.Next(users.Count)].ToString());
                    var start = AfterQuote(bytes, random) ?? at;
                    bytes.RemoveRange(start, Math.Min(id.Length, bytes.Count - start));
                    bytes.InsertRange(start, id);
                    break;
                case 6:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 7:
                    var length = Math.Min(1 + random.Next(64), bytes.Count - at);
                    bytes.InsertRange(random.Next(bytes.Count), bytes.GetRange(at, length));
                    break;
                default: // nested deeper than the parser allows, or just short of it
                    var depth = random.Next(2) == 0 ? 70 : 40;
                    bytes.InsertRange(at, Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth)));
                    break;
            }
        }

        return [.. bytes];
    }

    private static int? AfterQuote(List<byte> bytes, Random random)
    {
        var quotes = Enumerable.Range(0, bytes.Count).Where(i => bytes[i] == (byte)'"').ToList();
        return quotes.Count == 0 ? null : quotes[random.Next(quotes.Count)] + 1;
    }
}
