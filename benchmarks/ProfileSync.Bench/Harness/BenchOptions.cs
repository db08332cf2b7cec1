using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using ProfileSync.Replay;

namespace ProfileSync.Bench.Harness;

/// <summary>What <c>./dev.sh bench</c> was asked to run: sizes, rounds, and which rows.</summary>
internal sealed record BenchOptions(int Users, int Signups, int Deliveries, int Rounds, int BatchSize, IReadOnlyList<string> Only)
{
    /// <summary>Whether a row is to be measured: every row, or those whose name contains one of the <c>--only</c> texts.</summary>
    public bool Wanted(string row) => Only.Count == 0 || Only.Any(text => row.Contains(text, StringComparison.OrdinalIgnoreCase));
}

/// <summary>The bench's command line, parsed by System.CommandLine: options, help, and one-line usage errors.</summary>
internal static class BenchCommandLine
{
    private const string Command = "./dev.sh bench";

    private static readonly Option<int> Users = Count("--users", "auth users to seed", 1_000_000);
    private static readonly Option<int> Signups = Count("--signups", "signups per signup run", 4_000);
    private static readonly Option<int> Deliveries = Count("--deliveries", "webhook deliveries per run", 4_000);
    private static readonly Option<int> Rounds = Count("--rounds", "rounds per row, product and baseline alternating", 3);
    private static readonly Option<int> BatchSize = Valued(new Option<int>("--batch-size")
    {
        HelpName = "N",
        Description = "replay batch size (default the product's)",
        DefaultValueFactory = _ => ReplayRequest.DefaultBatchSize,
        CustomParser = WholeNumberAboveZero,
    });

    private static readonly Option<string[]> Only = Valued(new Option<string[]>("--only")
    {
        HelpName = "TEXT",
        Description = """
            only the rows whose name contains TEXT (e.g. --only "attribute rules" --rounds 15); give it
            again for more (--only "missing profiles" --only "in sync")
            """,
        DefaultValueFactory = _ => [],
    });

    private static readonly Option<bool> Help = new("--help", "-h") { Description = "this, and nothing started" };

    private static readonly Option[] Options = [Users, Signups, Deliveries, Rounds, BatchSize, Only, Help];

    /// <summary>What <c>--help</c> prints: every option with what it takes and its default.</summary>
    public static string Usage { get; } = string.Join('\n', [
        $"Usage: {Command} [options]",
        "Every hot path against a baseline measured in the same run, on a PostgreSQL of its own (stopped and removed at",
        "the end, or when interrupted).",
        .. Options.Select(option => $"  {Synopsis(option),-15}  {option.Description!.ReplaceLineEndings("\n" + new string(' ', 19))}"),
    ]);

    /// <summary>The options, or why they are wrong (one line), or null options and no error when help was asked for.</summary>
    public static (BenchOptions? Options, string? Error) Parse(IReadOnlyList<string> args)
    {
        // Only these options: no built-in help or version, no directives, no response files; so anything else is unknown.
        var root = new RootCommand { TreatUnmatchedTokensAsErrors = true };
        root.Options.Clear();
        root.Directives.Clear();
        foreach (var option in Options)
        {
            root.Options.Add(option);
        }

        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.GetValue(Help))
        {
            return (null, null);
        }

        var unknown = parsed.Tokens.FirstOrDefault(token => token.Type == TokenType.Directive)?.Value ?? (parsed.UnmatchedTokens.Count > 0 ? parsed.UnmatchedTokens[0] : null);
        if (unknown is not null)
        {
            return (null, UsageError($"unknown option '{unknown}'"));
        }

        if (parsed.Errors.Count > 0)
        {
            // An option without its value, or with one it cannot take: said in this command's words, not the parser's.
            var problem = parsed.Errors[0];
            var option = problem.SymbolResult switch
            {
                OptionResult result => result.Option,
                ArgumentResult { Parent: OptionResult result } => result.Option,
                _ => null,
            };
            return (null, UsageError(option is null ? problem.Message.TrimEnd('.') : $"{option.Name} needs {(option == Only ? "a text" : "a whole number above 0")}"));
        }

        return (new BenchOptions(parsed.GetValue(Users), parsed.GetValue(Signups), parsed.GetValue(Deliveries), parsed.GetValue(Rounds),
            parsed.GetValue(BatchSize), parsed.GetValue(Only)!), null);
    }

    /// <summary>One line: what is wrong, then the command's synopsis (<c>--help</c> says more).</summary>
    private static string UsageError(string problem) =>
        $"bench: {problem}. Usage: {Command} {string.Join(' ', Options.Select(option => $"[{Synopsis(option)}]{(option == Only ? "…" : "")}"))}";

    private static string Synopsis(Option option) => option.HelpName is null ? option.Name : $"{option.Name} {option.HelpName}";

    private static Option<int> Count(string name, string description, int defaultValue) => Valued(new Option<int>(name)
    {
        HelpName = "N",
        Description = $"{description} (default {defaultValue.ToString("N0", CultureInfo.InvariantCulture)})",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = WholeNumberAboveZero,
    });

    /// <summary>
    /// An option with one value each time it is given, and given again at will (the last number counts; every text
    /// does): a repeat is no error, a missing value is, even after an earlier one.
    /// </summary>
    private static Option<T> Valued<T>(Option<T> option)
    {
        option.Arity = ArgumentArity.OneOrMore;
        option.Validators.Add(result =>
        {
            if (result.IdentifierTokenCount > result.Tokens.Count)
            {
                result.AddError("a value is missing");
            }
        });
        return option;
    }

    private static int WholeNumberAboveZero(ArgumentResult result)
    {
        var numbers = result.Tokens.Select(token => int.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : 0).ToList();
        if (numbers.Count > 0 && numbers.TrueForAll(number => number > 0))
        {
            return numbers[^1];
        }

        result.AddError("not a whole number above 0"); // reworded with the option's name by Parse
        return 0;
    }
}
