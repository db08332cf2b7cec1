using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ProfileSync.Tests.Deployment;

/// <summary>
/// Reads the ARM expressions an offline snapshot leaves (<c>[format('…', …)]</c>) as far as they are known before a
/// deployment: literals, <c>format</c>, <c>concat</c>, <c>extensionResourceId</c> and the public cloud's
/// <c>environment()</c> are computed; values only a deployment knows stay readable tokens, such as
/// <c>reference(/subscriptions/…/id-x).principalId</c> or <c>guid(a, b)</c>.
/// </summary>
internal static partial class ArmExpression
{
    private static readonly Dictionary<string, object> AzureCloud = new(StringComparer.OrdinalIgnoreCase)
    {
        ["name"] = "AzureCloud",
        ["suffixes"] = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase)
        {
            ["keyvaultDns"] = ".vault.azure.net",
            ["storage"] = "core.windows.net",
        },
    };

    public static string Evaluate(string value)
    {
        if (!value.StartsWith('[') || !value.EndsWith(']') || value.StartsWith("[[", StringComparison.Ordinal))
        {
            return value.StartsWith("[[", StringComparison.Ordinal) ? value[1..] : value;
        }

        var parser = new Parser(value[1..^1]);
        var result = parser.Expression();
        parser.End();
        return Text(result);
    }

    private static string Text(object value) => value switch
    {
        string text => text,
        Unknown unknown => unknown.Text,
        int number => number.ToString(CultureInfo.InvariantCulture),
        _ => throw new InvalidOperationException($"not a string: {value}"),
    };

    private static object Call(string name, List<object> args) => name.ToLowerInvariant() switch
    {
        "format" => FormatItem().Replace(Text(args[0]), m => Text(args[int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + 1])),
        "concat" => string.Concat(args.Select(Text)),
        "environment" => AzureCloud,
        "extensionresourceid" => $"{Text(args[0])}/providers/{Text(args[1])}/{string.Join('/', args.Skip(2).Select(Text))}",
        // The resource, not the API version, is what a reader compares.
        "reference" => new Unknown($"reference({Text(args[0])})"),
        _ => new Unknown($"{name}({string.Join(", ", args.Select(Text))})"),
    };

    private static object Member(object target, string name) => target switch
    {
        Dictionary<string, object> properties => properties[name],
        Unknown unknown => new Unknown($"{unknown.Text}.{name}"),
        _ => throw new InvalidOperationException($"no property {name} on {target}"),
    };

    private sealed record Unknown(string Text);

    private sealed class Parser(string text)
    {
        private int _at;

        public object Expression()
        {
            var value = Primary();
            while (true)
            {
                Skip();
                if (Peek('.'))
                {
                    _at++;
                    value = Member(value, Identifier());
                }
                else if (Peek('['))
                {
                    _at++;
                    var index = Expression();
                    Expect(']');
                    value = Member(value, Text(index));
                }
                else
                {
                    return value;
                }
            }
        }

        public void End()
        {
            Skip();
            if (_at != text.Length)
            {
                throw new FormatException($"unexpected '{text[_at..]}' in [{text}]");
            }
        }

        private object Primary()
        {
            Skip();
            if (_at >= text.Length)
            {
                throw new FormatException($"unexpected end of [{text}]");
            }

            if (Peek('\''))
            {
                return StringLiteral();
            }

            if (char.IsDigit(text[_at]) || text[_at] == '-')
            {
                var start = _at++;
                while (_at < text.Length && char.IsDigit(text[_at]))
                {
                    _at++;
                }

                return int.Parse(text[start.._at], CultureInfo.InvariantCulture);
            }

            var name = Identifier();
            Expect('(');
            var args = new List<object>();
            Skip();
            while (!Peek(')'))
            {
                args.Add(Expression());
                Skip();
                if (Peek(','))
                {
                    _at++;
                }
            }

            Expect(')');
            return Call(name, args);
        }

        private string StringLiteral()
        {
            var value = new StringBuilder();
            _at++;
            while (true)
            {
                if (_at >= text.Length)
                {
                    throw new FormatException($"unterminated string in [{text}]");
                }

                if (text[_at] == '\'')
                {
                    if (_at + 1 < text.Length && text[_at + 1] == '\'')
                    {
                        value.Append('\'');
                        _at += 2;
                        continue;
                    }

                    _at++;
                    return value.ToString();
                }

                value.Append(text[_at++]);
            }
        }

        private string Identifier()
        {
            Skip();
            var start = _at;
            while (_at < text.Length && (char.IsLetterOrDigit(text[_at]) || text[_at] is '_' or '$'))
            {
                _at++;
            }

            return _at > start ? text[start.._at] : throw new FormatException($"expected a name at {_at} in [{text}]");
        }

        private void Expect(char c)
        {
            Skip();
            if (!Peek(c))
            {
                throw new FormatException($"expected '{c}' at {_at} in [{text}]");
            }

            _at++;
        }

        private bool Peek(char c) => _at < text.Length && text[_at] == c;

        private void Skip()
        {
            while (_at < text.Length && char.IsWhiteSpace(text[_at]))
            {
                _at++;
            }
        }
    }

    [GeneratedRegex(@"\{(\d+)\}")]
    private static partial Regex FormatItem();
}
