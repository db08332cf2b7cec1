using System.CommandLine.Parsing;
using System.Globalization;

namespace ProfileSync.Cli;

/// <summary>Option parsers whose errors name the flag as typed and say what it takes, never a .NET type.</summary>
internal static class OptionValues
{
    public static Guid[] UserIds(ArgumentResult result)
    {
        var ids = new List<Guid>();
        foreach (var token in result.Tokens)
        {
            if (Guid.TryParseExact(token.Value, "D", out var id))
            {
                ids.Add(id);
            }
            else
            {
                result.AddError($"--user-id '{PrintableText.Bounded(token.Value, 40)}' is not a user id: give the whole UUID, e.g. 6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f.");
            }
        }

        return [.. ids];
    }

    public static DateTimeOffset? Time(ArgumentResult result)
    {
        var token = result.Tokens.Single().Value;
        if (DateTimeOffset.TryParse(token, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }

        result.AddError($"{OptionName(result)} '{PrintableText.Bounded(token, 40)}' is not a time: use ISO 8601, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.");
        return null;
    }

    public static int WholeNumber(ArgumentResult result)
    {
        var token = result.Tokens.Single().Value;
        if (int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }

        result.AddError($"{OptionName(result)} '{PrintableText.Bounded(token, 40)}' is not a whole number.");
        return 0;
    }

    private static string OptionName(ArgumentResult result) =>
        result.Parent is OptionResult option ? option.IdentifierToken?.Value ?? option.Option.Name : "the value";
}
