using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ProfileSync.Explain;

namespace ProfileSync.Cli;

/// <summary>
/// <c>profilesync explain --user-id ID [--json]</c>: why a user's profile is what it is (each field as implied and as
/// held, derived or owned; the address and its proof; every attribute rule and why it did or did not match; what a
/// replay would do).
/// </summary>
internal static class ExplainCommand
{
    public static Command Create(Option<string?> connection, TextWriter output, TextWriter error)
    {
        var userId = new Option<Guid[]>("--user-id") { Description = "The user to explain (a whole UUID)", Required = true, CustomParser = OptionValues.UserIds };
        var json = new Option<bool>("--json") { Description = "Print the explanation as JSON" };
        var command = new Command("explain", "Explain a user's profile: each field, the address's proof, every attribute rule, what a replay would do")
        {
            userId, json,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            if (parsed.GetValue(userId) is not [var id])
            {
                await error.WriteLineAsync("profilesync: explain takes one --user-id");
                return ProfileSyncCli.UsageError;
            }

            await using var services = ProfileSyncCli.BuildServices(parsed.GetValue(connection));
            using var explanation = await services.GetRequiredService<ProfileExplainer>().ExplainAsync(id, cancellationToken);
            var root = explanation.RootElement;
            if (!root.GetProperty("authUser").GetBoolean() && !root.GetProperty("hasProfile").GetBoolean())
            {
                await error.WriteLineAsync($"profilesync: no auth user and no profile has the id {id}");
                return ProfileSyncCli.Failure;
            }

            await output.WriteLineAsync(parsed.GetValue(json) ? JsonSerializer.Serialize(root, ProfileSyncCli.JsonReport) : Format(root));
            return ProfileSyncCli.Success;
        });
        return command;
    }

    internal static string Format(JsonElement root)
    {
        var text = new StringBuilder();
        void Line(string line) => text.AppendLine(line);

        Line($"User {root.GetProperty("userId").GetString()}: {(root.GetProperty("authUser").GetBoolean() ? "an auth user" : "no auth user (the profile is orphaned)")}, {(root.GetProperty("hasProfile").GetBoolean() ? "a profile" : "no profile")}");
        Line("");
        Line($"{"field",-14}{"state",-18}{"auth.users implies",-34}profile holds");
        foreach (var field in root.GetProperty("fields").EnumerateObject().OrderBy(f => Array.IndexOf(FieldOrder, f.Name)))
        {
            var state = field.Value.GetProperty("state").GetString() ?? "-";
            if (field.Value.GetProperty("stale").GetBoolean())
            {
                state += ", stale";
            }

            var (implied, current) = (Value(field.Value.GetProperty("implied")), Value(field.Value.GetProperty("current")));
            if (implied.Length < 33 && current.Length < 33)
            {
                Line($"{field.Name,-14}{state,-18}{implied,-34}{current}");
            }
            else
            {
                // Too wide for a column (attributes): a line each.
                Line($"{field.Name,-14}{state}");
                Line($"  implied     {implied}");
                Line($"  holds       {current}");
            }
        }

        Line("");
        if (root.GetProperty("address") is { ValueKind: JsonValueKind.Object } address)
        {
            var proof = address.GetProperty("proof").GetString();
            Line($"Address       {address.GetProperty("email").GetString()} (domain {address.GetProperty("domain").GetString()}): {(proof is null ? "not proven" : "proven by " + Proof(proof))}");
        }
        else
        {
            Line("Address       none (domain rules cannot apply)");
        }

        Line($"Defaults      {Value(root.GetProperty("defaults"))}");
        var rules = root.GetProperty("rules");
        Line(rules.GetArrayLength() == 0 ? "Rules         none" : "Rules         (in the order they apply; a later rule's keys win)");
        foreach (var rule in rules.EnumerateArray())
        {
            var matches = string.Join(", ", new[] { ("email_domain", "emailDomain"), ("provider", "provider"), ("app_metadata", "appMetadata"), ("identity_data", "identityData") }
                .Where(c => rule.GetProperty(c.Item2).ValueKind != JsonValueKind.Null)
                .Select(c => $"{c.Item1} {Value(rule.GetProperty(c.Item2))}"));
            var verdict = rule.GetProperty("matched").GetBoolean()
                ? "matched" + (rule.GetProperty("identity") is { ValueKind: JsonValueKind.Object } identity
                    ? $" by identity {identity.GetProperty("id").GetString()}"
                    : "")
                : "not matched: " + string.Join("; ", rule.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()));
            Line(string.Create(CultureInfo.InvariantCulture,
                $"  #{rule.GetProperty("id").GetInt64()} (position {rule.GetProperty("position").GetInt32()}) {(matches.Length == 0 ? "everyone" : matches)} -> {Value(rule.GetProperty("attributes"))}: {verdict}"));
        }

        Line("");
        Line($"A replay would: {Outcome(root.GetProperty("replay").GetString())}");
        if (root.TryGetProperty("failure", out var failure) && failure.ValueKind == JsonValueKind.Object)
        {
            // What refused the profile when a convergence last tried: fix that, then replay.
            var via = failure.GetProperty("via").GetString() switch { "auth_trigger" => "fallback trigger", var other => other };
            var at = failure.GetProperty("failedAt").GetDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
            Line($"Set aside:      the {via} could not write the profile at {at}: {failure.GetProperty("reason").GetString()} ({failure.GetProperty("message").GetString()})");
        }

        if (root.GetProperty("token") is { ValueKind: JsonValueKind.Object } token)
        {
            Line(token.TryGetProperty("claims", out var claims)
                ? $"Next token:     {string.Join(", ", claims.EnumerateObject().Select(c => $"{c.Name} {Value(c.Value)}"))}"
                : $"Next token:     refused ({Value(token.GetProperty("error").GetProperty("message"))})");
        }
        return text.ToString().TrimEnd();
    }

    private static readonly string[] FieldOrder = ["email", "display_name", "is_active", "attributes"];

    private static string Value(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => "-",
        JsonValueKind.String => value.GetString()!,
        _ => value.GetRawText(),
    };

    private static string Proof(string proof) => proof switch
    {
        "confirmation_token" => "the confirmation mailed to it (signup or invite)",
        "recovery_token" => "a magic link, OTP or recovery link mailed to it",
        "email_change_token_new" => "the link mailed to it when the address was changed",
        _ when proof.StartsWith("provider:", StringComparison.Ordinal) => $"{proof["provider:".Length..]}, a provider trusted to verify addresses",
        _ => $"the SSO provider that owns the domain ({proof})",
    };

    private static string Outcome(string? outcome) => outcome switch
    {
        "created" => "create the profile",
        "updated" => "refresh its stale derived fields",
        "deleted" => "remove the profile (its user is gone)",
        "unchanged" => "nothing (in sync)",
        _ => "nothing",
    };
}
