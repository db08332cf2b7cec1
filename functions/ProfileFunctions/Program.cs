using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using ProfileSync;
using ProfileSync.Settings;
using ProfileSync.Telemetry;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddProfileSyncEvents();
// With host.json's "telemetryMode": "OpenTelemetry", the host and this worker export alike; the worker's part adds
// the function invocation span and the Azure resource attributes.
builder.Services.AddProfileSyncTelemetry(builder.Configuration)?.UseFunctionsWorkerDefaults();
try
{
    builder.Build().Run();
    return 0;
}
catch (Exception e) when (InvalidSettings.Failures(e) is { Count: > 0 } failures)
{
    // A setting that cannot work: one line each, naming it, instead of the host's stack trace.
    foreach (var failure in failures)
    {
        Console.Error.WriteLine($"ProfileFunctions cannot start: {failure}");
    }

    return 1;
}
