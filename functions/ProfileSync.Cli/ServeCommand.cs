using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ProfileSync.Http;
using ProfileSync.Events;
using ProfileSync.Health;
using ProfileSync.Replay;
using ProfileSync.Telemetry;

namespace ProfileSync.Cli;

/// <summary>
/// <c>profilesync serve --urls URL</c>: the function app's handlers on the same routes over Kestrel, for running
/// without the Functions host. The host's function key is not checked here (keep it on loopback or behind your own
/// gateway); the replay route, admin-level in the host, requires <c>ProfileSync__AdminKey</c>.
/// </summary>
internal static class ServeCommand
{
    public const string DefaultUrls = "http://127.0.0.1:7071";

    public static Command Create(Option<string?> connection, TextWriter error)
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen", DefaultValueFactory = _ => DefaultUrls };
        var command = new Command("serve", "Serve /api/auth-events, /api/profiles/replay and /api/health over HTTP, as the function app does") { urls };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var listenOn = parsed.GetValue(urls)!;
            await using var app = Build(listenOn, parsed.GetValue(connection));
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                // Kestrel's bind failures: the port is taken, or not ours to take.
                var reason = e.InnerException is AddressInUseException ? "another program is using it" : e.Message;
                await error.WriteLineAsync($"profilesync: cannot listen on {listenOn}: {reason}. Choose another with --urls.");
                return ProfileSyncCli.Failure;
            }

            await app.WaitForShutdownAsync(cancellationToken);
            return ProfileSyncCli.Success;
        });
        return command;
    }

    /// <summary>The same services and routes as the function app (route prefix <c>api</c>).</summary>
    /// <param name="settings">settings over the environment's (tests pass theirs here)</param>
    public static WebApplication Build(string urls, string? connectionString, IReadOnlyDictionary<string, string?>? settings = null,
        Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        ProfileSyncCli.AddSettings(builder.Configuration, connectionString);
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.WebHost.UseUrls(urls);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // A start that fails (a setting, a taken port) is told in one line by the CLI; the host would add its own line
        // with the whole stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        // One line per entry, so one event is one line in a terminal or a log file.
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
        logging?.Invoke(builder.Logging);
        builder.Services.AddProfileSyncEvents();
        builder.Services.AddProfileSyncTelemetry(builder.Configuration);

        var app = builder.Build();
        app.MapGet("/api/health", (HealthHandler handler, HttpContext context) => handler.HandleAsync(context));
        app.MapPost("/api/auth-events", (AuthEventsHandler handler, HttpContext context) => handler.HandleAsync(context));
        app.MapPost("/api/profiles/replay", (ReplayHandler handler, IOptions<ProfileSyncOptions> options, HttpContext context) =>
            new SecretKey(options.Value.AdminKey).Matches(context.Request.Headers["x-functions-key"].ToString())
                ? handler.HandleAsync(context)
                : JsonResponses.WriteAsync(context, StatusCodes.Status401Unauthorized, new ErrorBody("unauthorized: send ProfileSync__AdminKey in x-functions-key")));
        return app;
    }
}
