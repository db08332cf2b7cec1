using Microsoft.Extensions.Options;
using ProfileSync.Settings;

namespace ProfileSync.Resilience;

/// <summary>
/// Settings of the event pipeline: <c>ProfileSync__Resilience__*</c>. Their limits are Polly's, so a value that
/// would fail when the pipeline is first built fails the start instead.
/// </summary>
public sealed class ResilienceOptions
{
    public const string SectionName = "ProfileSync:Resilience";

    private const string TimeSpanFromTo = "{0} must be a time span from {1} to {2}.";
    private const string AtLeast = "{0} must be at least {1}.";

    /// <summary>One deadline over all attempts. Supabase Auth gives a hook 5 s in total.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.010", "1.00:00:00", ErrorMessage = TimeSpanFromTo)]
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(4);

    [SettingRange(1, int.MaxValue, ErrorMessage = AtLeast)]
    public int MaxRetryAttempts { get; set; } = 10;

    [SettingRange(typeof(TimeSpan), "00:00:00.001", "1.00:00:00", ErrorMessage = TimeSpanFromTo)]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    [SettingRange(typeof(TimeSpan), "00:00:00.001", "1.00:00:00", ErrorMessage = TimeSpanFromTo)]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(1);

    [SettingRange(0.0, 1.0, MinimumIsExclusive = true, ErrorMessage = "{0} must be more than {1} and at most {2}.")]
    public double BreakerFailureRatio { get; set; } = 0.5;

    [SettingRange(2, int.MaxValue, ErrorMessage = AtLeast)]
    public int BreakerMinimumThroughput { get; set; } = 20;

    [SettingRange(typeof(TimeSpan), "00:00:00.500", "1.00:00:00", ErrorMessage = TimeSpanFromTo)]
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    [SettingRange(typeof(TimeSpan), "00:00:00.500", "1.00:00:00", ErrorMessage = TimeSpanFromTo)]
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

[OptionsValidator]
public sealed partial class ResilienceOptionsValidator : IValidateOptions<ResilienceOptions>;
