using System.Text.Json;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Functions;

/// <summary>What the Functions host will read: the functions.metadata the worker SDK generated at build time.</summary>
public sealed class FunctionsMetadataTests
{
    [Theory]
    [InlineData("AuthEvents", "httpTrigger", "auth-events", "Function", "post")]
    [InlineData("Health", "httpTrigger", "health", "Anonymous", "get")]
    [InlineData("ReplayProfiles", "httpTrigger", "profiles/replay", "Admin", "post")]
    public void Function_is_listed_with_its_route_and_auth_level(string name, string trigger, string route, string authLevel, string method)
    {
        var binding = Trigger(name);

        Assert.Equal(trigger, binding.GetProperty("type").GetString());
        Assert.Equal(route, binding.GetProperty("route").GetString());
        Assert.Equal(authLevel, binding.GetProperty("authLevel").GetString());
        Assert.Equal([method], binding.GetProperty("methods").EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public void Reconcile_timer_takes_its_schedule_from_the_setting()
    {
        var binding = Trigger("ReconcileProfiles");

        Assert.Equal("timerTrigger", binding.GetProperty("type").GetString());
        Assert.Equal("%ProfileSync__ReconcileSchedule%", binding.GetProperty("schedule").GetString());
    }

    internal static JsonElement Trigger(string name)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(MetadataFile));
        var function = document.RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == name);
        return function.GetProperty("bindings").EnumerateArray().First(b => b.GetProperty("direction").GetString() == "In").Clone();
    }

    // The Functions app's output folder beside this test's (same configuration and framework).
    private static string MetadataFile
    {
        get
        {
            var relative = Path.GetRelativePath(Path.Combine(Repository.Root, "tests", "ProfileSync.Tests"), AppContext.BaseDirectory);
            return Path.Combine(Repository.Root, "functions", "ProfileFunctions", relative, "functions.metadata");
        }
    }
}
