using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using PgNetWorker;
using ProfileSync;

// pg_net's background worker for the local emulator: delivers what net.http_post queued until Ctrl+C or SIGTERM.
// Reads ProfileSync__ConnectionString (or --connection) as profilesync does. Exit codes: 0 stopped, 1 the database
// failed, 2 the settings are wrong.
var connection = new Option<string?>("--connection")
{
    Description = "Connection string or postgresql:// URI (default: the ProfileSync__ConnectionString environment variable)",
};
var root = new RootCommand("pg_net's background worker for the local emulator: delivers net.http_request_queue over HTTP") { connection };
root.SetAction(async (parsed, cancellationToken) =>
{
    var connectionString = parsed.GetValue(connection);
    try
    {
        await using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(Settings(connectionString))
            .AddProfileSync()
            .BuildServiceProvider();
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var dispatcher = new QueueDispatcher(services.GetRequiredService<NpgsqlDataSource>(), http);
        Console.WriteLine("Delivering net.http_request_queue (Ctrl+C to stop)…");
        await dispatcher.RunAsync(Console.WriteLine, cancellationToken);
        return 0;
    }
    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
    {
        return 0;
    }
    catch (OptionsValidationException e)
    {
        foreach (var failure in e.Failures)
        {
            var named = string.IsNullOrWhiteSpace(connectionString) ? failure : failure.Replace("ProfileSync__ConnectionString", "--connection", StringComparison.Ordinal);
            await Console.Error.WriteLineAsync($"pgnet-worker: {named}");
        }

        return 2;
    }
    catch (Exception e) when (e is NpgsqlException or TimeoutException)
    {
        await Console.Error.WriteLineAsync($"pgnet-worker: the database failed: {e.Message}");
        return 1;
    }
});
return await root.Parse(args).InvokeAsync();

// Environment variables (ProfileSync__*), then --connection over them.
static ConfigurationManager Settings(string? connectionString)
{
    var configuration = new ConfigurationManager();
    configuration.AddEnvironmentVariables();
    if (!string.IsNullOrWhiteSpace(connectionString))
    {
        configuration[$"{ProfileSyncOptions.SectionName}:{nameof(ProfileSyncOptions.ConnectionString)}"] = connectionString;
    }

    return configuration;
}
