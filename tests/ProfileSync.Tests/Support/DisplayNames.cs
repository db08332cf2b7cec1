using System.Globalization;
using System.Text;

namespace ProfileSync.Tests.Support;

/// <summary>
/// The display-name rule written again from .NET's own Unicode data, as the tests' independent truth: what
/// <c>profile_sync.plain_display_name</c> must give for any text.
/// </summary>
public static class DisplayNames
{
    private const int MaxLength = 200;
    private const int ZeroWidthJoiner = 0x200D;
    private const int EmojiPresentation = 0xFE0F;

    /// <summary>Characters that render as nothing but are letters to Unicode: they count as space.</summary>
    private static readonly int[] HangulFillers = [0x115F, 0x1160, 0x3164, 0xFFA0];

    /// <summary>
    /// The plain form: white space (and the Hangul fillers) as spaces; no character of the categories Cc, Cf, Co,
    /// Zl, Zp, nor another default-ignorable one but the variation selectors; a zero-width joiner only between two
    /// pictographs; no leading space, at most 200 characters (a joiner left at the cut dropped), no trailing space;
    /// null when nothing is left.
    /// </summary>
    public static string? Plain(string? name)
    {
        if (name is null)
        {
            return null;
        }

        var runes = name.EnumerateRunes().Select(r => IsSpace(r.Value) ? new Rune(' ') : r).ToList();
        var kept = new List<Rune>(runes.Count);
        for (var i = 0; i < runes.Count; i++)
        {
            var value = runes[i].Value;
            if (value == ZeroWidthJoiner ? !JoinsPictographs(runes, i) : IsInvisible(value))
            {
                continue;
            }

            kept.Add(runes[i]);
        }

        var start = kept.FindIndex(r => r.Value != ' ');
        if (start < 0)
        {
            return null;
        }

        var cut = kept.Skip(start).Take(MaxLength).ToList();
        while (cut.Count > 0 && cut[^1].Value == ZeroWidthJoiner)
        {
            cut.RemoveAt(cut.Count - 1);
        }

        var text = string.Concat(cut.Select(r => r.ToString())).TrimEnd(' ');
        return text.Length == 0 ? null : text;
    }

    /// <summary>Unicode's White_Space (as <see cref="Rune.IsWhiteSpace"/> has it) and the Hangul fillers, but the space itself.</summary>
    public static bool IsSpace(int codePoint) =>
        codePoint != ' ' && (Rune.IsWhiteSpace(new Rune(codePoint)) || HangulFillers.Contains(codePoint));

    /// <summary>A character the rule drops: categories Cc, Cf, Co, Zl, Zp, and the other default-ignorable code points but variation selectors.</summary>
    public static bool IsInvisible(int codePoint) =>
        !IsSpace(codePoint) && !IsVariationSelector(codePoint) &&
        (CharUnicodeInfo.GetUnicodeCategory(codePoint) is UnicodeCategory.Control or UnicodeCategory.Format
             or UnicodeCategory.PrivateUse or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
         || IsOtherDefaultIgnorable(codePoint));

    /// <summary>Default_Ignorable_Code_Point characters of no invisible category (DerivedCoreProperties.txt): the combining grapheme joiner, two Khmer vowels, the unassigned tail of the specials and tags.</summary>
    private static bool IsOtherDefaultIgnorable(int c) =>
        c is 0x034F or 0x17B4 or 0x17B5 or >= 0xFFF0 and <= 0xFFF8 or >= 0xE0000 and <= 0xE0FFF;

    private static bool IsVariationSelector(int c) =>
        c is >= 0x180B and <= 0x180D or 0x180F or >= 0xFE00 and <= 0xFE0F or >= 0xE0100 and <= 0xE01EF;

    /// <summary>The symbol blocks where Unicode's Extended_Pictographic characters are (the rule's choice, not Unicode data).</summary>
    public static bool IsPictograph(int c) =>
        c is 0xA9 or 0xAE or 0x203C or 0x2049 or 0x2122 or 0x2139 or >= 0x2194 and <= 0x21AA or >= 0x231A and <= 0x23FF
            or 0x24C2 or >= 0x25AA and <= 0x27BF or 0x2934 or 0x2935 or >= 0x2B05 and <= 0x2B55 or 0x3030 or 0x303D
            or 0x3297 or 0x3299 or >= 0x1F000 and <= 0x1FAFF;

    private static bool JoinsPictographs(List<Rune> runes, int joiner)
    {
        var before = joiner - 1;
        if (before >= 0 && runes[before].Value == EmojiPresentation)
        {
            before--;
        }

        return before >= 0 && IsPictograph(runes[before].Value) && joiner + 1 < runes.Count && IsPictograph(runes[joiner + 1].Value);
    }
}
