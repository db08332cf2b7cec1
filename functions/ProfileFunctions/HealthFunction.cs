using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using ProfileSync.Health;

namespace ProfileFunctions;

public sealed class HealthFunction(HealthHandler handler)
{
    [Function("Health")]
    public async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        await handler.HandleAsync(request.HttpContext);
        return new EmptyResult();
    }
}
