using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly;
using ProfileSync.Events;
using ProfileSync.Explain;
using ProfileSync.Health;
using ProfileSync.Profiles;
using ProfileSync.Replay;
using ProfileSync.Resilience;
using ProfileSync.Status;

namespace ProfileSync;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Options of each section under <c>ProfileSync</c>, each validated on start by its own validator; one data source;
    /// and the handlers.
    /// </summary>
    public static IServiceCollection AddProfileSync(this IServiceCollection services)
    {
        services.AddSettings<ProfileSyncOptions, ProfileSyncOptionsValidator>(ProfileSyncOptions.SectionName);
        services.AddSettings<ResilienceOptions, ResilienceOptionsValidator>(ResilienceOptions.SectionName);
        services.AddSettings<PassOptions, PassOptionsValidator>(PassOptions.SectionName);

        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<ProfileSyncOptions>>().Value;
            var builder = new NpgsqlDataSourceBuilder(ConnectionStrings.ToNpgsql(options.ConnectionString));
            // PostgreSQL's DETAIL can hold row values (e-mails, metadata): never in exceptions, so never in logs.
            builder.ConnectionStringBuilder.IncludeErrorDetail = false;
            // A connection back in the pool keeps its session: no DISCARD ALL, which would drop the plans PostgreSQL
            // cached for the convergence functions and make every event plan them again. Nothing here keeps state
            // in a session (locks and settings are per transaction).
            builder.ConnectionStringBuilder.NoResetOnClose = true;
            var loggerFactory = provider.GetService<ILoggerFactory>();
            if (loggerFactory is not null)
            {
                // SQL text at Debug; Npgsql's warnings and errors as they are.
                builder.UseLoggerFactory(new QuietLoggerFactory(loggerFactory, LogLevel.Information));
            }

            return builder.Build();
        });

        services.AddProfileSyncHealth();
        services.AddSingleton<DriftReader>();
        services.AddSingleton<ProfileExplainer>();
        services.AddSingleton<ProfileReplayer>();
        services.AddSingleton<ReplayHandler>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddResiliencePipeline(DatabaseResilience.PipelineName, (builder, context) =>
            Quiet(DatabaseResilience.Configure(builder, Resilience(context.ServiceProvider)), context.ServiceProvider));
        services.AddResiliencePipeline(DatabaseResilience.PassPipelineName, (builder, context) =>
            Quiet(DatabaseResilience.ConfigurePasses(builder, Resilience(context.ServiceProvider)), context.ServiceProvider));
        return services;

        static ResilienceOptions Resilience(IServiceProvider provider) => provider.GetRequiredService<IOptions<ResilienceOptions>>().Value;

        // Attempts and retries at Debug: the caller's one line says how the call ended.
        static void Quiet(ResiliencePipelineBuilder builder, IServiceProvider provider)
        {
            if (provider.GetService<ILoggerFactory>() is { } loggerFactory)
            {
                builder.ConfigureTelemetry(new QuietLoggerFactory(loggerFactory, LogLevel.Critical));
            }
        }
    }

    /// <summary>The section's settings, bound and checked by <typeparamref name="TValidator"/> when the host starts.</summary>
    private static void AddSettings<TOptions, TValidator>(this IServiceCollection services, string sectionName)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        services.AddOptions<TOptions>().BindConfiguration(sectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>, TValidator>();
    }

    /// <summary>
    /// The auth-events endpoint on top of <see cref="AddProfileSync"/>: a host that takes events refuses to start
    /// without a valid way to authenticate them.
    /// </summary>
    public static IServiceCollection AddProfileSyncEvents(this IServiceCollection services)
    {
        services.AddProfileSync();
        services.AddSingleton<IValidateOptions<ProfileSyncOptions>, EventAuthenticationValidator>();
        services.AddSingleton<WebhookAuthenticator>();
        services.AddSingleton<IProfileStore, ProfileStore>();
        services.AddSingleton<AuthEventsHandler>();
        return services;
    }
}
