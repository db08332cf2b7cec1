using YamlDotNet.Serialization;

namespace ProfileSync.Tests.Deployment;

/// <summary>A YAML file as plain maps, lists and strings, and the few ways the tests walk GitHub workflows in them.</summary>
internal static class Yaml
{
    public static Dictionary<object, object?> Load(params string[] path) =>
        Map(new DeserializerBuilder().Build().Deserialize<object>(File.ReadAllText(Path.Combine([Repository.Root, .. path]))));

    public static Dictionary<object, object?> Map(object? node) =>
        Assert.IsType<Dictionary<object, object?>>(node, exactMatch: false);

    public static List<object?> List(object? node) => Assert.IsType<List<object?>>(node, exactMatch: false);

    /// <summary>A key's value as text; empty when the key is missing.</summary>
    public static string Text(this Dictionary<object, object?> map, string key) => map.TryGetValue(key, out var value) ? value as string ?? "" : "";

    public static Dictionary<object, object?> MapOf(this Dictionary<object, object?> map, string key) =>
        map.TryGetValue(key, out var value) && value is Dictionary<object, object?> inner ? inner : [];

    public static List<Dictionary<object, object?>> Jobs(Dictionary<object, object?> workflow) =>
        [.. Map(workflow["jobs"]).Values.Select(Map)];

    public static List<Dictionary<object, object?>> Steps(Dictionary<object, object?> job) => [.. List(job["steps"]).Select(Map)];

    /// <summary>True when the step uses the action (any version): <c>uses: owner/name@v4</c>.</summary>
    public static bool Uses(this Dictionary<object, object?> step, string action) =>
        step.Text("uses").Split('@')[0].Equals(action, StringComparison.OrdinalIgnoreCase);
}
