using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly.CircuitBreaker;
using Polly.Timeout;
using ProfileSync.Resilience;
using ProfileSync.Settings;

namespace ProfileSync.Cli;

/// <summary>The <c>profilesync</c> command. Reads the same <c>ProfileSync__*</c> settings as the function app.</summary>
public static class ProfileSyncCli
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int UsageError = 2;
    public const int Busy = 3;

    /// <summary><c>status --exit-code</c>: the profiles have drifted (for scripts and monitors).</summary>
    public const int Drifting = 4;

    /// <summary>What <c>--json</c> prints: the web naming (camelCase), indented for people reading it too.</summary>
    internal static readonly JsonSerializerOptions JsonReport = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>The option every command takes: the connection string, over the environment's.</summary>
    internal const string ConnectionOption = "--connection";

    /// <summary>Every command and option of <c>profilesync</c>; what <see cref="RunAsync"/> parses and runs.</summary>
    internal static RootCommand CreateRootCommand(TextWriter output, TextWriter error)
    {
        var connection = new Option<string?>(ConnectionOption)
        {
            Description = "Connection string or postgresql:// URI (default: the ProfileSync__ConnectionString environment variable)",
            Recursive = true,
        };
        var root = new RootCommand("profilesync: keep one public.user_profiles row for every Supabase auth user")
        {
            StatusCommand.Create(connection, output),
            ExplainCommand.Create(connection, output, error),
            ReplayCommand.Create(connection, output, error),
            ServeCommand.Create(connection, error),
        };
        root.Options.Add(connection);
        return root;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var root = CreateRootCommand(output, error);
        var connection = (Option<string?>)root.Options.Single(o => o.Name == ConnectionOption);

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // Unknown options, values that do not parse, a missing command: usage errors, named as typed.
            // "Required command was not provided" only when nothing more telling was found ('frobnicate' is).
            var problems = parsed.Errors.Count > 1 ? parsed.Errors.Where(p => !p.Message.StartsWith("Required command", StringComparison.Ordinal)) : parsed.Errors;
            foreach (var problem in problems)
            {
                await error.WriteLineAsync($"profilesync: {problem.Message}");
            }

            await error.WriteLineAsync("Run 'profilesync --help' for usage.");
            return UsageError;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (InvalidSettings.Failures(e) is { Count: > 0 } failures)
        {
            var fromFlag = !string.IsNullOrWhiteSpace(parsed.GetValue(connection));
            foreach (var failure in failures)
            {
                // The setting as the user gave it: --connection wins over the environment variable.
                var named = fromFlag
                    ? failure.Replace("ProfileSync__ConnectionString", "--connection", StringComparison.Ordinal)
                    : failure.StartsWith("ProfileSync__ConnectionString is not set", StringComparison.Ordinal)
                        ? failure.Replace("is not set:", "is not set and no --connection was given:", StringComparison.Ordinal)
                        : failure;
                await error.WriteLineAsync($"profilesync: {named}");
            }

            return UsageError;
        }
        catch (Exception e) when (DatabaseResilience.IsPassBudgetSpent(e))
        {
            await error.WriteLineAsync($"profilesync: a statement ran past its time budget ({PassOptions.StatementTimeoutSetting}, {new PassOptions().StatementTimeout.TotalMinutes:0} minutes unless set); raise it, e.g. {PassOptions.StatementTimeoutSetting}=01:00:00, and run again (what was committed stays)");
            return Failure;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            await error.WriteLineAsync($"profilesync: the database failed: {e.Message}");
            return Failure;
        }
        catch (Exception e) when (e is TimeoutRejectedException or BrokenCircuitException)
        {
            await error.WriteLineAsync($"profilesync: the database did not answer in time ({DatabaseResilience.Describe(e)}); run it again");
            return Failure;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Never a stack trace: one line, and what the failure was.
            await error.WriteLineAsync($"profilesync: it could not be done: {e.GetType().Name}: {e.Message}");
            return Failure;
        }
    }

    /// <summary>The same services as the function app, configured from the environment and <c>--connection</c>.</summary>
    internal static ServiceProvider BuildServices(string? connectionString)
    {
        var configuration = AddSettings(new ConfigurationManager(), connectionString);
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddLogging()
            .AddProfileSync()
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        services.GetRequiredService<IStartupValidator>().Validate(); // every section, as a host does on start
        return services;
    }

    /// <summary>Environment variables (<c>ProfileSync__*</c>), then <c>--connection</c> over them.</summary>
    internal static ConfigurationManager AddSettings(ConfigurationManager configuration, string? connectionString)
    {
        configuration.AddEnvironmentVariables();
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                [$"{ProfileSyncOptions.SectionName}:{nameof(ProfileSyncOptions.ConnectionString)}"] = connectionString,
            });
        }

        return configuration;
    }
}
