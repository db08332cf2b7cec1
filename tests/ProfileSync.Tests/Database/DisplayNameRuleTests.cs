using System.Globalization;
using System.Text;
using NpgsqlTypes;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>
/// <c>profile_sync.plain_display_name</c> against the rule written again from .NET's Unicode data
/// (<see cref="DisplayNames"/>): idempotent, and the same result, for every character Unicode has and a seeded corpus
/// of names. <c>PROFILESYNC_NAMES_SEED=N</c> replays a run.
/// </summary>
public sealed class DisplayNameRuleTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private const int Names = 3000;

    [Fact]
    public async Task Every_invisible_character_goes_every_white_space_becomes_a_space_and_nothing_else_changes()
    {
        // Every code point between two letters: only those the rule changes come back.
        var changed = new Dictionary<int, string>();
        await using (var command = Db.As().CreateCommand("""
            select cp, profile_sync.plain_display_name('a' || chr(cp) || 'b')
            from generate_series(1, 1114111) cp
            where (cp < 55296 or cp > 57343) and profile_sync.plain_display_name('a' || chr(cp) || 'b') <> 'a' || chr(cp) || 'b'
            """))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                changed[reader.GetInt32(0)] = reader.GetString(1);
            }
        }

        var wrong = new List<string>();
        for (var codePoint = 1; codePoint <= 0x10FFFF; codePoint++)
        {
            if (codePoint is >= 0xD800 and <= 0xDFFF || CharUnicodeInfo.GetUnicodeCategory(codePoint) == UnicodeCategory.OtherNotAssigned)
            {
                continue; // no text holds a surrogate; .NET knows nothing of a character it has no data for
            }

            var expected = DisplayNames.IsSpace(codePoint) ? "a b" : DisplayNames.IsInvisible(codePoint) ? "ab" : null;
            var actual = changed.GetValueOrDefault(codePoint);
            if (expected != actual)
            {
                wrong.Add(string.Create(CultureInfo.InvariantCulture, $"U+{codePoint:X4} ({CharUnicodeInfo.GetUnicodeCategory(codePoint)}): {actual ?? "kept"}, expected {expected ?? "kept"}"));
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong.Take(40)));
        Assert.Contains(0x200D, changed.Keys); // a joiner between letters goes
    }

    [Fact]
    public async Task Plain_names_stay_as_they_are_and_every_name_is_made_plain_as_the_rule_says()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("PROFILESYNC_NAMES_SEED"), out var given) ? given : Random.Shared.Next();
        RunReport.Write($"display names: seed {seed} (replay: PROFILESYNC_NAMES_SEED={seed})");
        var random = new Random(seed);
        var names = Enumerable.Range(0, Names).Select(_ => RandomName(random)).Concat(Edges).ToArray();

        await using var command = Db.As().CreateCommand("""
            select profile_sync.plain_display_name(n.x), profile_sync.plain_display_name(profile_sync.plain_display_name(n.x))
            from unnest($1) with ordinality n(x, i) order by n.i
            """);
        command.Parameters.Add(new() { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = names });
        await using var reader = await command.ExecuteReaderAsync();
        for (var i = 0; await reader.ReadAsync(); i++)
        {
            var plain = reader.IsDBNull(0) ? null : reader.GetString(0);
            var again = reader.IsDBNull(1) ? null : reader.GetString(1);
            var shown = Escaped(names[i]);
            Assert.True(plain == again, $"not idempotent for {shown}: {Escaped(plain)} then {Escaped(again)}");
            Assert.True(plain == DisplayNames.Plain(names[i]), $"{shown}: {Escaped(plain)}, the rule says {Escaped(DisplayNames.Plain(names[i]))}");
            if (plain is not null)
            {
                Assert.InRange(plain.EnumerateRunes().Count(), 1, 200);
                Assert.False(plain.StartsWith(' ') || plain.EndsWith(' '), shown);
            }
        }
    }

    [Theory]
    [InlineData("Ann \U0001F3F3\uFE0F\u200D\U0001F308")] // rainbow flag
    [InlineData("\U0001F468\u200D\U0001F469\u200D\U0001F467")] // family
    [InlineData("\U0001F469\U0001F3FD\u200D\U0001F4BB Dev")] // technologist, medium skin tone
    [InlineData("\u2764\uFE0F\u200D\U0001F525")] // heart on fire
    public async Task Emoji_joined_by_zero_width_joiners_stay_whole(string name) =>
        Assert.Equal(name, await Db.ScalarAsync<string>("select profile_sync.plain_display_name($1)", "postgres", name));

    /// <summary>Names the seeded ones may miss: the edges of the cut, the prefix and the chain.</summary>
    private static readonly string[] Edges =
    [
        new string('a', 199) + " b",
        new string('a', 199) + "\U0001F468\u200D\U0001F469",
        new string(' ', 1000) + "Bob",
        string.Concat(Enumerable.Repeat("\u200B", 1000)) + "Bob",
        string.Concat(Enumerable.Repeat("\u00A0", 5000)) + "Bob" + new string('x', 300),
        new string('x', 999) + "\u200D\U0001F308",
        "\u00A0Bob\u00A0", "\u3000", "\u3164\u3164", "", " ", "\u202E", "Bob\U000E0041\U000E0042\U000E007F",
    ];

    // Pools the corpus draws from: plain letters, spaces of every kind, invisible characters, emoji parts.
    private static readonly int[][] Pools =
    [
        [.. "abcXYZ 09-'.".Select(c => (int)c)],
        [0xE9, 0xD1, 0x674E, 0x5C0F, 0x0627, 0x05D0, 0x0915, 0x094D, 0x0301, 0x0130, 0x212A],
        [0x09, 0x0A, 0x0D, 0x85, 0xA0, 0x1680, 0x2003, 0x2028, 0x2029, 0x202F, 0x3000, 0x115F, 0x1160, 0x3164, 0xFFA0],
        [0x01, 0x1B, 0x7F, 0x9F, 0xAD, 0x034F, 0x061C, 0x180E, 0x200B, 0x200C, 0x200E, 0x202E, 0x2066, 0xFEFF, 0xFFF9, 0xE000, 0xE0041, 0x100000, 0x17B4],
        [0x200D, 0x200D, 0xFE0F, 0x1F3FD, 0x1F308, 0x1F3F3, 0x1F468, 0x2764, 0x1F525, 0x2695],
    ];

    private static string RandomName(Random random)
    {
        var length = random.Next(10) switch
        {
            0 => random.Next(190, 230),
            1 => random.Next(980, 1300),
            _ => random.Next(0, 40),
        };
        var text = new StringBuilder();
        var pool = Pools[random.Next(Pools.Length)];
        for (var i = 0; i < length; i++)
        {
            if (random.Next(6) == 0)
            {
                pool = Pools[random.Next(Pools.Length)];
            }

            text.Append(char.ConvertFromUtf32(pool[random.Next(pool.Length)]));
        }

        return text.ToString();
    }

    private static string Escaped(string? text) => text is null ? "null" :
        string.Concat(text.EnumerateRunes().Select(r => r.Value is >= 0x20 and < 0x7F ? r.ToString() : string.Create(CultureInfo.InvariantCulture, $"\\u{r.Value:X4}")));
}
