using Microsoft.Extensions.Options;
using ProfileSync.Settings;

namespace ProfileSync.Events;

/// <summary>
/// For hosts of the auth-events endpoint, over <see cref="ProfileSyncOptionsValidator"/>: at least one valid way to
/// authenticate events, and no secret left as the sample's placeholder. Rules across fields, which attributes cannot say.
/// </summary>
public sealed class EventAuthenticationValidator : IValidateOptions<ProfileSyncOptions>
{
    public const int MinimumTokenLength = 16;

    private const string MakeOne = "make a random one (openssl rand -base64 32; a webhook secret is v1,whsec_ and that)";

    /// <summary>The placeholders of local.settings.sample.json (<c>replace-me-…</c>): never a real secret.</summary>
    public static bool IsPlaceholder(string value) => value.Contains("replace-me", StringComparison.OrdinalIgnoreCase);

    public ValidateOptionsResult Validate(string? name, ProfileSyncOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        var hasSecret = !string.IsNullOrWhiteSpace(options.WebhookSecret);
        var hasToken = !string.IsNullOrWhiteSpace(options.WebhookBearerToken);
        if (!hasSecret && !hasToken)
        {
            failures.Add("No way to authenticate auth events: set ProfileSync__WebhookSecret (v1,whsec_…) or ProfileSync__WebhookBearerToken.");
        }

        // An unresolved Key Vault reference is said as such, once, by ProfileSyncOptions.
        var secretToCheck = hasSecret && !KeyVaultReferences.IsUnresolved(options.WebhookSecret);
        if (secretToCheck && WebhookSecrets.Problem(options.WebhookSecret) is { } problem)
        {
            failures.Add($"ProfileSync__WebhookSecret is invalid: {problem}.");
        }
        else if (secretToCheck && WebhookSecrets.Parse(options.WebhookSecret).Any(key => IsPlaceholder(System.Text.Encoding.UTF8.GetString(key))))
        {
            failures.Add($"ProfileSync__WebhookSecret is the sample's placeholder: {MakeOne}.");
        }

        if (hasToken && IsPlaceholder(options.WebhookBearerToken!))
        {
            failures.Add($"ProfileSync__WebhookBearerToken is the sample's placeholder: {MakeOne}.");
        }

        if (!string.IsNullOrWhiteSpace(options.AdminKey) && IsPlaceholder(options.AdminKey))
        {
            failures.Add($"ProfileSync__AdminKey is the sample's placeholder: {MakeOne}.");
        }

        if (hasToken && options.WebhookBearerToken!.Trim().Length < MinimumTokenLength)
        {
            failures.Add($"ProfileSync__WebhookBearerToken is too short: use at least {MinimumTokenLength} random characters.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
