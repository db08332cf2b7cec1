using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ProfileFunctions;
using ProfileSync.Health;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Health;

public sealed class HealthHandlerTests(PostgresCluster cluster)
{
    [Fact]
    public async Task Health_function_answers_200_when_the_database_is_reachable()
    {
        await using var dataSource = NpgsqlDataSource.Create(cluster.ConnectionString("postgres"));
        var (status, body) = await GetAsync(dataSource);

        Assert.Equal(StatusCodes.Status200OK, status);
        Assert.Equal("healthy", body.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Health_function_answers_503_without_details_when_the_database_is_down()
    {
        await using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=postgres;Password=secret;Timeout=2");
        var (status, body) = await GetAsync(dataSource);

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, status);
        Assert.Equal("""{"status":"unhealthy"}""", body.GetRawText());
    }

    private static async Task<(int Status, JsonElement Body)> GetAsync(NpgsqlDataSource dataSource)
    {
        await using var services = new ServiceCollection().AddLogging().AddSingleton(dataSource).AddProfileSyncHealth().BuildServiceProvider();
        var function = new HealthFunction(services.GetRequiredService<HealthHandler>());
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Response.Body = new MemoryStream();

        await function.RunAsync(context.Request);

        context.Response.Body.Position = 0;
        using var document = await JsonDocument.ParseAsync(context.Response.Body);
        return (context.Response.StatusCode, document.RootElement.Clone());
    }
}
