using Microsoft.Extensions.Options;

namespace ProfileSync.Settings;

/// <summary>
/// What a refused start says: one line per setting that cannot work, whichever sections they are in. Every entry
/// point (the Functions host, the CLI) prints these instead of a stack trace.
/// </summary>
public static class InvalidSettings
{
    /// <summary>
    /// The failures of options validation: one section's (<see cref="OptionsValidationException"/>) or several
    /// (the <see cref="AggregateException"/> a start throws then). Empty for any other exception.
    /// </summary>
    public static IReadOnlyList<string> Failures(Exception exception) => exception switch
    {
        OptionsValidationException refused => [.. refused.Failures],
        AggregateException { InnerExceptions: var inner } when inner.All(e => e is OptionsValidationException) =>
            [.. inner.SelectMany(e => ((OptionsValidationException)e).Failures)],
        _ => [],
    };
}
