using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using ProfileSync.Settings;

namespace ProfileSync;

/// <summary>Settings under <c>ProfileSync</c>: environment variables <c>ProfileSync__Name</c>, the same in Azure app settings.</summary>
public sealed class ProfileSyncOptions : IValidatableObject
{
    public const string SectionName = "ProfileSync";

    /// <summary>Npgsql connection string, direct or through a transaction-mode pooler.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Standard Webhooks secret(s), <c>v1,whsec_…</c>, several joined by <c>|</c> during rotation.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Bearer token for dashboard-configured Database Webhooks.</summary>
    public string? WebhookBearerToken { get; set; }

    /// <summary>
    /// <c>profilesync serve</c> only: the key its replay route requires in <c>x-functions-key</c> (the Functions host
    /// checks its own keys). Without it, serve refuses every replay request.
    /// </summary>
    public string? AdminKey { get; set; }

    /// <summary>Largest event body accepted; larger ones get 413 without being read further.</summary>
    [SettingRange(1024, int.MaxValue, ErrorMessage = "{0} must be at least {1}.")]
    public int MaxEventBytes { get; set; } = 256 * 1024;

    // What an attribute cannot say: no secret is a Key Vault reference left unresolved, and the connection string
    // must parse, as a string or a URI, and name a host.
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        foreach (var (property, value) in new[]
                 {
                     (nameof(ConnectionString), ConnectionString), (nameof(WebhookSecret), WebhookSecret),
                     (nameof(WebhookBearerToken), WebhookBearerToken), (nameof(AdminKey), AdminKey),
                 })
        {
            if (KeyVaultReferences.IsUnresolved(value))
            {
                yield return new ValidationResult(KeyVaultReferences.Problem(SettingRangeAttribute.SettingName(GetType(), property)));
            }
        }

        if (!KeyVaultReferences.IsUnresolved(ConnectionString) && ConnectionStrings.Problem(ConnectionString) is { } problem)
        {
            yield return new ValidationResult($"{SettingRangeAttribute.SettingName(GetType(), nameof(ConnectionString))} {problem}");
        }
    }
}

/// <summary>Refuses to start with <c>ProfileSync__*</c> settings that cannot work, naming the setting as the user sets it.</summary>
[OptionsValidator]
public sealed partial class ProfileSyncOptionsValidator : IValidateOptions<ProfileSyncOptions>;
