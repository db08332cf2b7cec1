namespace ProfileSync.Settings;

/// <summary>
/// An app setting Azure could not resolve keeps its reference's text, <c>@Microsoft.KeyVault(SecretUri=…)</c>, as
/// its value: the secret is missing, or the app's identity may not read it. Said as such, not as a malformed value.
/// </summary>
public static class KeyVaultReferences
{
    public static bool IsUnresolved(string? value) =>
        value is not null && value.TrimStart().StartsWith("@Microsoft.KeyVault(", StringComparison.OrdinalIgnoreCase);

    public static string Problem(string setting) =>
        $"{setting} is a Key Vault reference Azure could not resolve: the secret is missing from the vault, or the app's " +
        "identity may not read it (Key Vault Secrets User); the app's environment variables in the portal show each reference's status.";
}
