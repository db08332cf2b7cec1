using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json.Serialization;

namespace ProfileSync.Events;

/// <summary>
/// What converging a user did: one type from the convergence statement's answer to the HTTP answer. Each value's
/// one text form (its <see cref="JsonStringEnumMemberNameAttribute"/>) is what <c>profile_sync.converge</c> says, what
/// the JSON answer says and what telemetry tags: <see cref="ProfileOutcomes"/> reads and writes it.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ProfileOutcome>))]
public enum ProfileOutcome
{
    [JsonStringEnumMemberName("created")]
    Created,

    [JsonStringEnumMemberName("updated")]
    Updated,

    [JsonStringEnumMemberName("unchanged")]
    Unchanged,

    [JsonStringEnumMemberName("deleted")]
    Deleted,

    /// <summary>The user's profile cannot be written (a constraint refuses it): set aside, <c>profilesync explain</c> says why.</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,

    /// <summary>Neither a user nor a profile, as converge says it. An event reports it as what it means for that event.</summary>
    [JsonStringEnumMemberName("absent")]
    Absent,

    /// <summary>An event that came too late (or too early) to change anything: never converge's answer, an event's.</summary>
    [JsonStringEnumMemberName("ignored")]
    Ignored,

    /// <summary>
    /// A signup hook answered before the database could apply it (down, slow, failing): left to the fallback trigger
    /// and the reconcile. Never converge's answer, an event's.
    /// </summary>
    [JsonStringEnumMemberName("deferred")]
    Deferred,
}

/// <summary>The text forms of <see cref="ProfileOutcome"/>, all from its members' one name.</summary>
public static class ProfileOutcomes
{
    private static readonly FrozenDictionary<ProfileOutcome, string> Names = Enum.GetValues<ProfileOutcome>().ToFrozenDictionary(
        outcome => outcome,
        outcome => typeof(ProfileOutcome).GetField(outcome.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()!.Name);

    private static readonly FrozenDictionary<string, ProfileOutcome> ByName = Names.ToFrozenDictionary(pair => pair.Value, pair => pair.Key);

    /// <summary><c>created</c>, <c>unchanged</c>…: the SQL's, the JSON's and the telemetry's name of it.</summary>
    public static string Name(this ProfileOutcome outcome) => Names[outcome];

    /// <summary>An outcome as <c>profile_sync.converge</c> answers it.</summary>
    public static ProfileOutcome Parse(string name) =>
        ByName.TryGetValue(name, out var outcome) ? outcome : throw new InvalidOperationException($"profile_sync.converge answered an unknown outcome '{name}'");
}
