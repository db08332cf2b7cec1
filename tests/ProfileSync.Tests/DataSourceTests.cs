using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests;

/// <summary>The one data source every handler uses, as the settings make it.</summary>
public sealed class DataSourceTests
{
    [Theory]
    [InlineData("Host=db.example.com;Database=postgres;Username=postgres;Password=secret")]
    [InlineData("Host=db.example.com;Database=postgres;Username=postgres;Password=secret;No Reset On Close=false;Include Error Detail=true")]
    [InlineData("postgresql://postgres:secret@db.example.com:5432/postgres?sslmode=disable")]
    public async Task Keeps_sessions_and_never_includes_error_detail_whatever_the_connection_string_says(string connectionString)
    {
        await using var services = TestServices.Build(connectionString);

        var built = new NpgsqlConnectionStringBuilder(services.GetRequiredService<NpgsqlDataSource>().ConnectionString);

        // Without NoResetOnClose, Npgsql sends DISCARD ALL before reusing a pooled connection, which drops the plans
        // PostgreSQL cached for the convergence functions: every event would plan them again.
        Assert.True(built.NoResetOnClose);
        // PostgreSQL's DETAIL can hold row values (e-mails, metadata): never in exceptions, so never in logs.
        Assert.False(built.IncludeErrorDetail);
    }
}
