using Microsoft.Extensions.Options;
using ProfileSync.Resilience;
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
        if (options.Passes.StatementTimeout < TimeSpan.FromSeconds(1))
        {
            failures.Add($"{PassOptions.StatementTimeoutSetting} must be at least 1 second (a time span such as 00:30:00).");
        }

        if (options.Passes.HttpReplayBudget < TimeSpan.FromSeconds(1))
        {
            failures.Add($"{PassOptions.HttpReplayBudgetSetting} must be at least 1 second (a time span such as 00:03:20; below the host's 230 s).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateConnectionString(string connectionString, List<string> failures)
    {
        const string setting = "ProfileSync__ConnectionString";
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            failures.Add($"{setting} is not set: give a connection string (Host=…;Database=…;Username=…;Password=…) or a postgresql:// URI.");
            return;
        }

        try
        {
            var builder = new NpgsqlConnectionStringBuilder(ConnectionStrings.ToNpgsql(connectionString));
            if (string.IsNullOrWhiteSpace(builder.Host))
            {
                failures.Add($"{setting} has no Host.");
            }
        }
        catch (ArgumentException e)
        {
            // The message names the bad keyword, never the value (it may be a password).
            failures.Add($"{setting} is not a valid connection string or postgresql:// URI: {e.Message}");
        }
    }
}

/// <summary>For hosts of the auth-events endpoint: at least one valid way to authenticate events.</summary>
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

        if (hasSecret && Events.WebhookSecrets.Problem(options.WebhookSecret) is { } problem)
        {
            failures.Add($"ProfileSync__WebhookSecret is invalid: {problem}.");
        }
        else if (hasSecret && Events.WebhookSecrets.Parse(options.WebhookSecret).Any(key => IsPlaceholder(System.Text.Encoding.UTF8.GetString(key))))
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

        if (options.MaxEventBytes < 1024)
        {
            failures.Add("ProfileSync__MaxEventBytes must be at least 1024.");
        }

        var resilience = options.Resilience;
        if (resilience.Deadline <= TimeSpan.Zero || resilience.MaxRetryAttempts < 0 || resilience.RetryBaseDelay <= TimeSpan.Zero
            || resilience.BreakDuration < TimeSpan.FromMilliseconds(500) || resilience.BreakerMinimumThroughput < 2
            || resilience.BreakerFailureRatio is <= 0 or > 1 || resilience.BreakerSamplingDuration < TimeSpan.FromMilliseconds(500))
        {
            failures.Add("ProfileSync__Resilience__* holds a value out of range (deadline and delays > 0, break and sampling durations >= 0.5 s, failure ratio in (0, 1], minimum throughput >= 2).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
