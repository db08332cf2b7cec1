namespace ProfileSync;

/// <summary>Caller-supplied text on its way to an answer or a log line.</summary>
public static class PrintableText
{
    /// <summary>
    /// At most <paramref name="maxLength"/> characters, each printable ASCII or '?', so no escape sequence, forged
    /// line break or odd Unicode from a caller reaches a terminal or a log viewer.
    /// </summary>
    public static string Bounded(string value, int maxLength = 64)
    {
        ArgumentNullException.ThrowIfNull(value);
        return string.Create(Math.Min(value.Length, maxLength), value, static (span, source) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = source[i] is >= ' ' and <= '~' ? source[i] : '?';
            }
        });
    }
}
