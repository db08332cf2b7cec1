using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using ProfileSync.Health;
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
        return services;
    }
}
