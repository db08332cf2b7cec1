using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using ProfileSync.Events;

namespace ProfileFunctions;

public sealed class AuthEventsFunction(AuthEventsHandler handler)
{
    [Function("AuthEvents")]
    public async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "auth-events")] HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        await handler.HandleAsync(request.HttpContext);
        return new EmptyResult();
    }
}
