using Microsoft.Extensions.Options;
using Npgsql;

namespace ProfileSync;

/// <summary>Refuses to start with settings that cannot work, naming the setting as the user sets it.</summary>
public sealed class ProfileSyncOptionsValidator : IValidateOptions<ProfileSyncOptions>
{
    public ValidateOptionsResult Validate(string? name, ProfileSyncOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        ValidateConnectionString(options.ConnectionString, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateConnectionString(string connectionString, List<string> failures)
    {
        const string setting = "ProfileSync__ConnectionString";
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            failures.Add($"{setting} is not set: give an Npgsql connection string (Host=…;Database=…;Username=…;Password=…).");
            return;
        }

        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (string.IsNullOrWhiteSpace(builder.Host))
            {
                failures.Add($"{setting} has no Host.");
            }
        }
        catch (ArgumentException e)
        {
            // The message names the bad keyword, never the value (it may be a password).
            failures.Add($"{setting} is not a valid Npgsql connection string: {e.Message}");
        }
    }
}
