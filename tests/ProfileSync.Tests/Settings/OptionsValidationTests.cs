using ProfileSync.Events;
using ProfileSync.Resilience;

namespace ProfileSync.Tests.Settings;

public sealed class OptionsValidationTests
{
    private const string SupabaseEventsSecret = StandardWebhooks.TestSecret;

    private readonly ProfileSyncOptionsValidator _validator = new();

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Missing_connection_string_fails_naming_the_setting(string connectionString)
    {
        var result = _validator.Validate(null, new ProfileSyncOptions { ConnectionString = connectionString });

        Assert.True(result.Failed);
        Assert.Contains("ProfileSync__ConnectionString is not set", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_connection_string_fails_without_echoing_its_value()
    {
        var result = _validator.Validate(null, new ProfileSyncOptions { ConnectionString = "Host=db;Passwrd=hunter2" });

        Assert.True(result.Failed);
        Assert.DoesNotContain("hunter2", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Connection_string_without_host_fails()
    {
        var result = _validator.Validate(null, new ProfileSyncOptions { ConnectionString = "Database=postgres;Username=postgres" });

        Assert.True(result.Failed);
        Assert.Contains("no Host", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Valid_connection_string_passes()
    {
        var result = _validator.Validate(null, new ProfileSyncOptions { ConnectionString = "Host=127.0.0.1;Port=54322;Database=postgres" });

        Assert.True(result.Succeeded);
    }

    [Theory]
    [InlineData("postgresql://postgres.abcdefghij:s3cr%40t@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?sslmode=require",
        "aws-0-eu-central-1.pooler.supabase.com", 6543, "postgres", "postgres.abcdefghij", "s3cr@t", "Require")]
    [InlineData("postgres://u:p@db.abcdefghij.supabase.co/db%20name?sslmode=verify-full&application_name=app",
        "db.abcdefghij.supabase.co", 5432, "db name", "u", "p", "VerifyFull")]
    [InlineData("postgresql://u:p@[::1]:5433", "::1", 5433, "postgres", "u", "p", "Prefer")]
    [InlineData("postgresql://u:p@w@rd@127.0.0.1:54322/postgres", "127.0.0.1", 54322, "postgres", "u", "p@w@rd", "Prefer")]
    public void Supabase_connection_uris_become_npgsql_connection_strings(
        string uri, string host, int port, string database, string user, string password, string sslMode)
    {
        var converted = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionStrings.ToNpgsql(uri));

        Assert.Equal((host, port, database, user, password, sslMode),
            (converted.Host, converted.Port, converted.Database, converted.Username, converted.Password, converted.SslMode.ToString()));
        Assert.True(_validator.Validate(null, new ProfileSyncOptions { ConnectionString = uri }).Succeeded);
    }

    [Theory]
    [InlineData("postgresql://u:hunter2@/postgres", "names no host")]
    [InlineData("postgresql://u:hunter2@db:port/postgres", "port 'port'")]
    [InlineData("postgresql://u:hunter2@db/postgres?frobnicate=1", "'frobnicate'")]
    public void Broken_uris_are_refused_naming_what_is_wrong_never_the_password(string uri, string reason)
    {
        var result = _validator.Validate(null, new ProfileSyncOptions { ConnectionString = uri });

        Assert.True(result.Failed);
        Assert.Contains(reason, result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("WebhookSecret")]
    [InlineData("WebhookBearerToken")]
    [InlineData("AdminKey")]
    public void The_sample_settings_placeholders_are_refused_as_secrets(string setting)
    {
        // The values of local.settings.sample.json, as a user who copied it without replacing them has them.
        using var sample = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values");
        var options = new ProfileSyncOptions
        {
            ConnectionString = "Host=127.0.0.1",
            WebhookSecret = values.GetProperty("ProfileSync__WebhookSecret").GetString(),
            WebhookBearerToken = setting == "WebhookSecret" ? null : values.GetProperty("ProfileSync__WebhookBearerToken").GetString(),
            AdminKey = setting == "AdminKey" ? "replace-me-with-an-admin-key" : null,
        };
        if (setting != "WebhookSecret")
        {
            options.WebhookSecret = null;
        }

        var result = new EventAuthenticationValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains($"ProfileSync__{setting} is the sample's placeholder", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ConnectionString")]
    [InlineData("WebhookSecret")]
    [InlineData("WebhookBearerToken")]
    [InlineData("AdminKey")]
    public void A_key_vault_reference_azure_could_not_resolve_is_named_as_such_once(string setting)
    {
        // What the app reads when the vault lacks the secret or its identity may not read it: the reference itself.
        var reference = $"@Microsoft.KeyVault(SecretUri=https://kv-profilesync.vault.azure.net/secrets/ProfileSync--{setting}/)";
        var options = new ProfileSyncOptions { ConnectionString = "Host=db", WebhookSecret = SupabaseEventsSecret };
        typeof(ProfileSyncOptions).GetProperty(setting)!.SetValue(options, reference);

        var failures = new[] { _validator.Validate(null, options), new EventAuthenticationValidator().Validate(null, options) }
            .Where(result => result.Failed).SelectMany(result => result.Failures!).ToList();

        var failure = Assert.Single(failures);
        Assert.StartsWith($"ProfileSync__{setting} is a Key Vault reference Azure could not resolve", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void The_shipped_defaults_of_every_section_pass()
    {
        Assert.True(new ResilienceOptionsValidator().Validate(null, new ResilienceOptions()).Succeeded);
        Assert.True(new PassOptionsValidator().Validate(null, new PassOptions()).Succeeded);
        Assert.True(_validator.Validate(null, new ProfileSyncOptions { ConnectionString = "Host=db" }).Succeeded);
    }

    [Theory]
    [InlineData(nameof(ResilienceOptions.Deadline), "00:00:00", "ProfileSync__Resilience__Deadline must be a time span from 00:00:00.010 to 1.00:00:00.")]
    [InlineData(nameof(ResilienceOptions.MaxRetryAttempts), "0", "ProfileSync__Resilience__MaxRetryAttempts must be at least 1.")]
    [InlineData(nameof(ResilienceOptions.RetryBaseDelay), "-00:00:01", "ProfileSync__Resilience__RetryBaseDelay must be a time span from 00:00:00.001 to 1.00:00:00.")]
    [InlineData(nameof(ResilienceOptions.RetryMaxDelay), "2.00:00:00", "ProfileSync__Resilience__RetryMaxDelay must be a time span from 00:00:00.001 to 1.00:00:00.")]
    [InlineData(nameof(ResilienceOptions.BreakerFailureRatio), "0", "ProfileSync__Resilience__BreakerFailureRatio must be more than 0 and at most 1.")]
    [InlineData(nameof(ResilienceOptions.BreakerFailureRatio), "1.5", "ProfileSync__Resilience__BreakerFailureRatio must be more than 0 and at most 1.")]
    [InlineData(nameof(ResilienceOptions.BreakerMinimumThroughput), "1", "ProfileSync__Resilience__BreakerMinimumThroughput must be at least 2.")]
    [InlineData(nameof(ResilienceOptions.BreakerSamplingDuration), "00:00:00.100", "ProfileSync__Resilience__BreakerSamplingDuration must be a time span from 00:00:00.500 to 1.00:00:00.")]
    [InlineData(nameof(ResilienceOptions.BreakDuration), "00:00:00.499", "ProfileSync__Resilience__BreakDuration must be a time span from 00:00:00.500 to 1.00:00:00.")]
    public void A_resilience_value_out_of_range_is_named_as_the_setting_in_one_line(string property, string value, string expected)
    {
        var options = new ResilienceOptions();
        var setting = typeof(ResilienceOptions).GetProperty(property)!;
        setting.SetValue(options, System.ComponentModel.TypeDescriptor.GetConverter(setting.PropertyType).ConvertFromInvariantString(value));

        var result = new ResilienceOptionsValidator().Validate(null, options);

        Assert.Equal([expected], result.Failures);
    }

    [Fact]
    public void Every_value_the_resilience_section_accepts_builds_a_pipeline()
    {
        // The section's limits are Polly's: the least of each builds both pipelines (Polly checks its options on build).
        var least = new ResilienceOptions
        {
            Deadline = TimeSpan.FromMilliseconds(10), MaxRetryAttempts = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            RetryMaxDelay = TimeSpan.FromMilliseconds(1), BreakerFailureRatio = 0.001, BreakerMinimumThroughput = 2,
            BreakerSamplingDuration = TimeSpan.FromMilliseconds(500), BreakDuration = TimeSpan.FromMilliseconds(500),
        };

        Assert.True(new ResilienceOptionsValidator().Validate(null, least).Succeeded);
        Assert.NotNull(DatabaseResilience.Configure(new Polly.ResiliencePipelineBuilder(), least).Build());
        Assert.NotNull(DatabaseResilience.ConfigurePasses(new Polly.ResiliencePipelineBuilder(), least).Build());
    }

    [Theory]
    [InlineData(nameof(PassOptions.StatementTimeout), "ProfileSync__Passes__StatementTimeout must be a time span from 00:00:01 to 1.00:00:00, such as 00:30:00.")]
    [InlineData(nameof(PassOptions.HttpReplayBudget), "ProfileSync__Passes__HttpReplayBudget must be a time span from 00:00:01 to 1.00:00:00, such as 00:03:20 (below the host's 230 s).")]
    public void A_pass_budget_under_a_second_is_named_as_the_setting(string property, string expected)
    {
        var options = new PassOptions();
        typeof(PassOptions).GetProperty(property)!.SetValue(options, TimeSpan.FromMilliseconds(500));

        Assert.Equal([expected], new PassOptionsValidator().Validate(null, options).Failures);
    }
}
