using Microsoft.Extensions.Options;
using ProfileSync.Settings;

namespace ProfileSync.Resilience;

/// <summary>
/// Settings of the passes over everyone (replay, reconcile, status): <c>ProfileSync__Passes__*</c>. They are not held
/// to an event's deadline: at 10M users one statement of theirs takes about a minute.
/// </summary>
public sealed class PassOptions
{
    public const string SectionName = "ProfileSync:Passes";

    /// <summary>The longest one statement of a pass may run, enforced by the database (statement_timeout).</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "1.00:00:00", ErrorMessage = "{0} must be a time span from {1} to {2}, such as 00:30:00.")]
    public TimeSpan StatementTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The setting as a user writes it, for messages.</summary>
    public static readonly string StatementTimeoutSetting = SettingRangeAttribute.SettingName(typeof(PassOptions), nameof(StatementTimeout));

    /// <summary>
    /// How long an HTTP replay of everyone goes on before it answers 202 with what it did so far (the next replay of
    /// everyone goes on from there): below the 230 s an Azure Functions host gives an HTTP request.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "1.00:00:00", ErrorMessage = "{0} must be a time span from {1} to {2}, such as 00:03:20 (below the host's 230 s).")]
    public TimeSpan HttpReplayBudget { get; set; } = TimeSpan.FromSeconds(200);
}

[OptionsValidator]
public sealed partial class PassOptionsValidator : IValidateOptions<PassOptions>;
