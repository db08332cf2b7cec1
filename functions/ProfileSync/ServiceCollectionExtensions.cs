using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly;
using ProfileSync.Events;
using ProfileSync.Health;
using ProfileSync.Profiles;
using ProfileSync.Replay;
using ProfileSync.Resilience;
using ProfileSync.Status;

namespace ProfileSync;

public static class ServiceCollectionExtensions
{
    /// <summary>Options from the <c>ProfileSync</c> section (validated on start), one data source, and the handlers.</summary>
    public static IServiceCollection AddProfileSync(this IServiceCollection services)
    {
        services.AddOptions<ProfileSyncOptions>()
            .BindConfiguration(ProfileSyncOptions.SectionName)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProfileSyncOptions>, ProfileSyncOptionsValidator>();

        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<ProfileSyncOptions>>().Value;
            var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
            var loggerFactory = provider.GetService<ILoggerFactory>();
            if (loggerFactory is not null)
            {
                builder.UseLoggerFactory(loggerFactory);
            }

            return builder.Build();
        });

        services.AddSingleton<HealthHandler>();
        services.AddSingleton<DriftReader>();
        services.AddSingleton<ProfileReplayer>();
        services.AddSingleton<ReplayHandler>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddResiliencePipeline(DatabaseResilience.PipelineName, (builder, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<ProfileSyncOptions>>().Value;
            DatabaseResilience.Configure(builder, options.Resilience);
        });
        return services;
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
