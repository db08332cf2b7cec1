namespace ProfileSync.Tests;

public sealed class OptionsValidationTests
{
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
}
