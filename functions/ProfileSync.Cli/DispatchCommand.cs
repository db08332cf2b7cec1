using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace ProfileSync.Cli;

/// <summary><c>profilesync dispatch</c>: deliver pg_net's queue of the local emulator's database, as pg_net's worker does.</summary>
internal static class DispatchCommand
{
    public static Command Create(Option<string?> connection, TextWriter output)
    {
        var command = new Command("dispatch", "Deliver the requests net.http_post queued (local emulator: the pg_net stand-in)");
        command.SetAction(async (parsed, cancellationToken) =>
        {
            await using var services = ProfileSyncCli.BuildServices(parsed.GetValue(connection));
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var dispatcher = new QueueDispatcher(services.GetRequiredService<NpgsqlDataSource>(), http);
            await output.WriteLineAsync("Delivering net.http_request_queue (Ctrl+C to stop)…");
            try
            {
                await dispatcher.RunAsync(line => output.WriteLine(line), cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // stopped
            }

            return ProfileSyncCli.Success;
        });
        return command;
    }
}
