using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;

namespace ProfileSync.Settings;

/// <summary>
/// <see cref="RangeAttribute"/> whose failure is one line naming the setting as the user sets it
/// (<c>ProfileSync__Resilience__Deadline</c>, the <c>{0}</c> of its message) and its limits as they are written here
/// (<c>{1}</c>, <c>{2}</c>). The options validator generator replaces a plain [Range] with a copy that drops its
/// message (dotnet/runtime#123137); a subclass it uses as it is.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingRangeAttribute : RangeAttribute
{
    private readonly string _minimum;
    private readonly string _maximum;

    public SettingRangeAttribute(int minimum, int maximum)
        : base(minimum, maximum) =>
        (_minimum, _maximum) = (minimum.ToString(CultureInfo.InvariantCulture), maximum.ToString(CultureInfo.InvariantCulture));

    public SettingRangeAttribute(double minimum, double maximum)
        : base(minimum, maximum) =>
        (_minimum, _maximum) = (minimum.ToString(CultureInfo.InvariantCulture), maximum.ToString(CultureInfo.InvariantCulture));

    /// <summary>A range of <paramref name="type"/> (a time span: <c>00:00:00.500</c>), as the settings write it.</summary>
    public SettingRangeAttribute(Type type, string minimum, string maximum)
        : base(type, minimum, maximum)
    {
        (_minimum, _maximum) = (minimum, maximum);
        ParseLimitsInInvariantCulture = true;
        ConvertValueInInvariantCulture = true;
    }

    public override string FormatErrorMessage(string name) =>
        string.Format(CultureInfo.InvariantCulture, ErrorMessageString, name, _minimum, _maximum);

    // No member names: the message names the setting itself, so nothing is put before it.
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        ArgumentNullException.ThrowIfNull(validationContext);
        return IsValid(value)
            ? ValidationResult.Success
            : new ValidationResult(FormatErrorMessage(SettingName(validationContext.ObjectType, validationContext.MemberName!)));
    }

    /// <summary>
    /// The environment variable of an options property: its class's <c>SectionName</c> (<c>ProfileSync:Resilience</c>)
    /// and the property, joined as Azure app settings and local.settings.json write them.
    /// </summary>
    public static string SettingName(Type options, string property)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = options.GetField("SectionName", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() as string
            ?? throw new InvalidOperationException($"{options.Name} has no SectionName");
        return $"{section.Replace(":", "__", StringComparison.Ordinal)}__{property}";
    }
}
