using System.CommandLine.Parsing;
using System.Globalization;
using ProfileSync.Replay;

namespace ProfileSync.Cli;

/// <summary>Option parsers whose errors name the flag as typed and say what it takes, never a .NET type.</summary>
internal static class OptionValues
{
    public static Guid[] UserIds(ArgumentResult result)
    {
        var ids = new List<Guid>();
        foreach (var token in result.Tokens)
        {
            try
            {
                ids.Add(ReplayRequest.ParseUserId(token.Value, OptionName(result)));
            }
            catch (FormatException e)
            {
                result.AddError(e.Message);
            }
        }

        return [.. ids];
    }

    public static DateTimeOffset? Time(ArgumentResult result)
    {
        try
        {
            return ReplayRequest.ParseTime(result.Tokens.Single().Value, OptionName(result));
        }
        catch (FormatException e)
        {
            result.AddError(e.Message);
            return null;
        }
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
