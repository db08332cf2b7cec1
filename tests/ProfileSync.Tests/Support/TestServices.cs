using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ProfileSync.Tests.Support;

public static class TestServices
{
    /// <summary>The function app's container (<c>AddProfileSyncEvents</c>) with the test secrets, the connection string and any other settings.</summary>
    public static ServiceProvider Build(
        string connectionString,
        IReadOnlyDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configure = null)
    {
        var values = new Dictionary<string, string?>(SupabaseEvents.Settings) { ["ProfileSync:ConnectionString"] = connectionString };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build())
            .AddLogging()
            .AddProfileSyncEvents();
        configure?.Invoke(services);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }
}
