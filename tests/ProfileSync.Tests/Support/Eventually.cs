using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Moq;
using ProfileFunctions;

namespace ProfileSync.Tests.Support;

public static class Eventually
{
    /// <summary>Polls until the condition holds; fails the test after 20 s, or <paramref name="within"/>.</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan? within = null)
    {
        var limit = within ?? TimeSpan.FromSeconds(20);
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < limit, $"the condition did not hold within {limit.TotalSeconds:0} s");
            await Task.Delay(limit > TimeSpan.FromSeconds(20) ? 500 : 20);
        }
    }
}

public static class ReconcileTimer
{
    /// <summary>Runs the function app's <c>ReconcileProfiles</c> timer once, as the host would.</summary>
    public static async Task RunAsync(string connectionString)
    {
        await using var services = TestServices.Build(connectionString);
        await ActivatorUtilities.CreateInstance<ReplayFunctions>(services)
            .ReconcileAsync(new Mock<Microsoft.Azure.Functions.Worker.TimerInfo>().Object, CancellationToken.None);
    }
}
