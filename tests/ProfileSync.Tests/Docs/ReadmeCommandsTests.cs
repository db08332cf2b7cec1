using System.Text;
using System.Text.RegularExpressions;
using ProfileSync.Cli;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Docs;

/// <summary>
/// The README is an entry page, and what it and the pages under docs/ show can be typed: every <c>profilesync</c>
/// command parses with the CLI's own parser, every <c>./dev.sh</c> command is one dev.sh has, and every link between
/// the pages leads to a file and a heading that exist.
/// </summary>
public sealed partial class ReadmeCommandsTests
{
    private const int ReadmeMaxLines = 250;

    private static readonly string Root = ProfileSync.TestKit.Repository.Root;

    /// <summary>Values that stand in for placeholders (<c>&lt;uuid&gt;</c>, <c>…</c>, <c>ID</c>, <c>$VAR</c>) after an option.</summary>
    private static readonly Dictionary<string, string> SampleValues = new(StringComparer.Ordinal)
    {
        ["--user-id"] = "6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f",
        ["--created-after"] = "2026-11-01T00:00:00Z",
        ["--created-before"] = "2026-11-02T00:00:00Z",
        ["--batch-size"] = "10000",
        [ProfileSyncCli.ConnectionOption] = "Host=127.0.0.1;Port=54322;Database=postgres;Username=postgres",
        ["--urls"] = "http://127.0.0.1:7071",
    };

    public static TheoryData<string> Pages()
    {
        var pages = new TheoryData<string>();
        pages.Add("README.md");
        foreach (var page in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order(StringComparer.Ordinal))
        {
            pages.Add(Path.GetRelativePath(Root, page).Replace('\\', '/'));
        }

        return pages;
    }

    [Fact]
    public void The_readme_is_an_entry_page_of_at_most_250_lines()
    {
        var lines = File.ReadAllLines(Path.Combine(Root, "README.md")).Length;

        Assert.True(lines <= ReadmeMaxLines, $"README.md has {lines} lines; keep it to {ReadmeMaxLines} and move reference to docs/");
    }

    [Fact]
    public void The_readme_shows_the_two_commands_and_the_cli()
    {
        var commands = Commands("README.md").Where(c => c.InCodeBlock).Select(c => string.Join(' ', c.Words)).ToList();

        Assert.Contains(commands, c => c.StartsWith("./dev.sh test", StringComparison.Ordinal));
        Assert.Contains(commands, c => c.StartsWith("./dev.sh up", StringComparison.Ordinal));
        foreach (var verb in new[] { "status", "explain", "replay" })
        {
            Assert.Contains(commands, c => c.StartsWith($"profilesync {verb}", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_profilesync_command_shown_parses(string page)
    {
        var wrong = new List<string>();
        foreach (var (line, words, inCodeBlock) in Commands(page))
        {
            var text = string.Join(' ', words);
            if (CliArguments(words) is not { } args)
            {
                continue;
            }

            var errors = ParseErrors(args, inCodeBlock);
            if (errors.Count > 0)
            {
                wrong.Add($"{page}:{line}: `{text}` (parsed as `profilesync {string.Join(' ', args)}`): {string.Join("; ", errors)}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_dev_sh_command_shown_is_one_dev_sh_has(string page)
    {
        var (subcommands, forwarded) = DevShSubcommands();
        var wrong = new List<string>();
        foreach (var (line, words, inCodeBlock) in Commands(page))
        {
            var text = string.Join(' ', words);
            if (words.Count == 0 || words[0] != "./dev.sh")
            {
                continue;
            }

            if (words.Count < 2 && !inCodeBlock)
            {
                continue; // the script named, not a command
            }

            if (words.Count < 2 || !subcommands.Contains(words[1]))
            {
                wrong.Add($"{page}:{line}: `{text}`: dev.sh has {string.Join(", ", subcommands.Order(StringComparer.Ordinal))}");
                continue;
            }

            // status, explain and replay hand their options to profilesync.
            if (forwarded.Contains(words[1]))
            {
                var errors = ParseErrors(Arguments(words.Skip(1)), inCodeBlock);
                if (errors.Count > 0)
                {
                    wrong.Add($"{page}:{line}: `{text}`: {string.Join("; ", errors)}");
                }
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_link_between_the_pages_leads_to_a_file_and_heading(string page)
    {
        var path = Path.Combine(Root, page);
        var wrong = new List<string>();
        foreach (var (line, text) in ProseLines(File.ReadAllLines(path)))
        {
            foreach (Match link in MarkdownLink().Matches(InlineCode().Replace(text, "")))
            {
                var target = link.Groups["target"].Value;
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                {
                    continue;
                }

                var hash = target.IndexOf('#', StringComparison.Ordinal);
                var file = hash < 0 ? target : target[..hash];
                var anchor = hash < 0 ? null : target[(hash + 1)..];
                var resolved = file.Length == 0 ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, file));
                if (!File.Exists(resolved) && !Directory.Exists(resolved))
                {
                    wrong.Add($"{page}:{line}: {target}: no such file");
                }
                else if (anchor is not null && resolved.EndsWith(".md", StringComparison.Ordinal) && !Anchors(resolved).Contains(anchor))
                {
                    wrong.Add($"{page}:{line}: {target}: no such heading in {Path.GetRelativePath(Root, resolved)}");
                }
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    /// <summary>
    /// What profilesync's own parser says of these arguments. A code block shows a command to run: it must parse whole.
    /// Prose may name a command without its required parts (`profilesync explain`, `./dev.sh explain`): there, only
    /// verbs, options and values that do not exist count.
    /// </summary>
    private static List<string> ParseErrors(string[] args, bool whole) =>
        ProfileSyncCli.CreateRootCommand(TextWriter.Null, TextWriter.Null).Parse(args).Errors
            .Select(e => e.Message)
            .Where(message => whole || !(message.StartsWith("Required command", StringComparison.Ordinal) || message.EndsWith("is required.", StringComparison.Ordinal)))
            .ToList();

    /// <summary>
    /// Every command a page shows: each line of a shell code block (comments and continuations dealt with), and each
    /// inline code span in the prose that starts as a command does.
    /// </summary>
    private static List<(int Line, List<string> Words, bool InCodeBlock)> Commands(string page)
    {
        var lines = File.ReadAllLines(Path.Combine(Root, page));
        var commands = new List<(int, List<string>, bool)>();
        string? fence = null;
        var shell = false;
        var pending = new StringBuilder();
        var pendingLine = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].Trim();
            if (trimmed.StartsWith("```", StringComparison.Ordinal))
            {
                if (fence is null)
                {
                    fence = trimmed[3..].Trim();
                    shell = fence is "" or "sh" or "bash" or "shell" or "console";
                }
                else
                {
                    fence = null;
                }

                continue;
            }

            if (fence is not null)
            {
                if (!shell)
                {
                    continue;
                }

                if (pending.Length == 0)
                {
                    pendingLine = i + 1;
                }

                if (trimmed.EndsWith('\\') && !trimmed.Contains(" #", StringComparison.Ordinal))
                {
                    pending.Append(trimmed[..^1]).Append(' ');
                    continue;
                }

                pending.Append(trimmed);
                foreach (var command in ShellCommands(pending.ToString()))
                {
                    commands.Add((pendingLine, command, true));
                }

                pending.Clear();
                continue;
            }

            foreach (Match span in InlineCode().Matches(lines[i]))
            {
                var text = span.Groups["code"].Value.Trim();
                var shown = ShellCommands(text);
                if (shown is [[var first, ..], ..] && (first is "profilesync" or "./dev.sh" || text.StartsWith("dotnet run --project functions/ProfileSync.Cli", StringComparison.Ordinal)))
                {
                    foreach (var command in shown)
                    {
                        commands.Add((i + 1, command, false));
                    }
                }
            }
        }

        return commands;
    }

    /// <summary>The lines outside code blocks, numbered from 1.</summary>
    private static IEnumerable<(int Line, string Text)> ProseLines(string[] lines)
    {
        var inFence = false;
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
                continue;
            }

            if (!inFence)
            {
                yield return (i + 1, lines[i]);
            }
        }
    }

    /// <summary>
    /// What profilesync would be given, for a command that runs it (<c>profilesync …</c>, or
    /// <c>dotnet run --project functions/ProfileSync.Cli -- …</c>); null for any other command.
    /// </summary>
    private static string[]? CliArguments(List<string> words)
    {
        if (words is ["profilesync", .. var rest])
        {
            return Arguments(rest);
        }

        var separator = words.IndexOf("--");
        return words is ["dotnet", "run", "--project", var project, ..] && project.TrimEnd('/') == "functions/ProfileSync.Cli" && separator > 0
            ? Arguments(words.Skip(separator + 1))
            : null;
    }

    /// <summary>
    /// The words as arguments: <c>[--json]</c> (an optional part) as <c>--json</c>; a placeholder after an option that
    /// takes a value (<c>&lt;uuid&gt;</c>, <c>…</c>, <c>2b9e…</c>, <c>ID</c>, <c>$VAR</c>) as a sample value; any other
    /// <c>…</c> ("and more") left out.
    /// </summary>
    private static string[] Arguments(IEnumerable<string> words)
    {
        var args = new List<string>();
        foreach (var raw in words)
        {
            var word = raw.Trim('[', ']');
            if (word.Length == 0)
            {
                continue;
            }

            var previous = args.Count > 0 ? args[^1] : null;
            if (IsPlaceholder(word))
            {
                if (previous is not null && SampleValues.TryGetValue(previous, out var sample))
                {
                    args.Add(sample);
                }
                else if (word is not ("…" or "..."))
                {
                    args.Add(word); // not after an option that takes a value: let the parser judge it
                }

                continue;
            }

            args.Add(word);
        }

        return [.. args];
    }

    private static bool IsPlaceholder(string word) =>
        word.Contains('…', StringComparison.Ordinal) || word.Contains("...", StringComparison.Ordinal) ||
        word.Contains('$', StringComparison.Ordinal) || Placeholder().IsMatch(word);

    /// <summary>
    /// The commands of a shell line, each as its words: split at white space, <c>;</c>, <c>|</c>, <c>&amp;</c>,
    /// <c>&amp;&amp;</c> and <c>||</c> outside quotes (the quotes removed), up to a comment (a <c>#</c> that starts a
    /// word), each without its leading <c>NAME=value</c> assignments.
    /// </summary>
    private static List<List<string>> ShellCommands(string line)
    {
        List<List<string>> commands = [[]];
        var word = new StringBuilder();
        var inWord = false;
        char? quote = null;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    word.Append(c);
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                inWord = true;
            }
            else if (c == '#' && !inWord)
            {
                break;
            }
            else if (char.IsWhiteSpace(c) || c is ';' or '|' or '&')
            {
                if (inWord)
                {
                    commands[^1].Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }

                if (c is ';' or '|' or '&')
                {
                    if (i + 1 < line.Length && line[i + 1] == c)
                    {
                        i++; // && and ||; a lone & (in the background) and | end the command too
                    }

                    commands.Add([]);
                }
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }

        if (inWord)
        {
            commands[^1].Add(word.ToString());
        }

        return [.. commands.Select(words => words.SkipWhile(w => Assignment().IsMatch(w)).ToList()).Where(words => words.Count > 0)];
    }

    /// <summary>
    /// dev.sh's subcommands, read from its last case statement (<c>  test) shift; cmd_test "$@" ;;</c>), and those that
    /// hand their arguments to profilesync (<c>cmd_status() { cli_against status "$@"; }</c>).
    /// </summary>
    private static (HashSet<string> Subcommands, HashSet<string> Forwarded) DevShSubcommands()
    {
        var script = File.ReadAllText(Path.Combine(Root, "dev.sh"));
        var dispatch = script[script.LastIndexOf("case \"${1:-}\" in", StringComparison.Ordinal)..];
        var subcommands = DevShCase().Matches(dispatch).SelectMany(m => m.Groups["names"].Value.Split('|')).ToHashSet(StringComparer.Ordinal);
        var forwarded = DevShForwarded().Matches(script).Select(m => m.Groups["name"].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("test", subcommands);
        Assert.Contains("up", subcommands);
        return (subcommands, forwarded);
    }

    /// <summary>The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered.</summary>
    private static HashSet<string> Anchors(string path)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, line) in ProseLines(File.ReadAllLines(path)))
        {
            var heading = Heading().Match(line);
            if (!heading.Success)
            {
                continue;
            }

            var slug = new StringBuilder();
            foreach (var c in heading.Groups["text"].Value.Trim().ToLowerInvariant())
            {
                if (char.IsLetterOrDigit(c) || c is '-' or '_')
                {
                    slug.Append(c);
                }
                else if (c == ' ')
                {
                    slug.Append('-');
                }
            }

            var anchor = slug.ToString();
            var count = seen.GetValueOrDefault(anchor);
            seen[anchor] = count + 1;
            anchors.Add(count == 0 ? anchor : $"{anchor}-{count}");
        }

        return anchors;
    }

    [GeneratedRegex(@"`(?<code>[^`]+)`")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"\[[^\]]*\]\((?<target>[^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"^#{1,6}\s+(?<text>.+?)\s*#*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^(<[^>]*>|[A-Z][A-Z_]*)$")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*=")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"(?m)^\s+(?<names>[a-z][a-z|-]*)\)")]
    private static partial Regex DevShCase();

    [GeneratedRegex(@"cmd_(?<name>[a-z]+)\(\)\s*\{\s*cli_against\s")]
    private static partial Regex DevShForwarded();
}
