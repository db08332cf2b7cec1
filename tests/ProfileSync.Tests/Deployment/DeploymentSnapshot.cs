using System.Text.Json.Nodes;

namespace ProfileSync.Tests.Deployment;

/// <summary>The resources and outputs <c>bicep snapshot</c> predicts, with their expressions read where they can be.</summary>
internal sealed class DeploymentSnapshot(JsonObject snapshot)
{
    // Stand-ins for the deployment's scope; any values do.
    public const string TenantId = "11111111-1111-1111-1111-111111111111";
    public const string SubscriptionId = "22222222-2222-2222-2222-222222222222";
    public const string ResourceGroup = "rg-profilesync";
    public const string Location = "westeurope";

    public IReadOnlyList<JsonObject> Resources { get; } = [.. snapshot["predictedResources"]!.AsArray().Select(r => r!.AsObject())];

    /// <summary>Each output's value, read (<see cref="ArmExpression.Evaluate"/>).</summary>
    public IReadOnlyDictionary<string, string> Outputs { get; } =
        snapshot["outputs"]!.AsObject().ToDictionary(o => o.Key, o => ArmExpression.Evaluate(o.Value!.GetValue<string>()), StringComparer.Ordinal);

    public IEnumerable<JsonObject> All(string type) =>
        Resources.Where(r => string.Equals((string?)r["type"], type, StringComparison.OrdinalIgnoreCase));

    public JsonObject Single(string type)
    {
        var matches = All(type).ToList();
        Assert.True(matches.Count == 1, $"expected one {type}, found {matches.Count}");
        return matches[0];
    }

    /// <summary>The function app's settings, read.</summary>
    public IReadOnlyDictionary<string, string> AppSettings =>
        Single("Microsoft.Web/sites/config")["properties"]!.AsObject()
            .ToDictionary(s => s.Key, s => ArmExpression.Evaluate(s.Value!.GetValue<string>()), StringComparer.Ordinal);

    /// <summary>Each role assignment: the resource it is scoped to, the role's GUID, the principal, and its raw name.</summary>
    public IReadOnlyList<RoleAssignment> RoleAssignments =>
    [
        .. All("Microsoft.Authorization/roleAssignments").Select(r =>
        {
            var id = ArmExpression.Evaluate((string)r["id"]!);
            var properties = r["properties"]!;
            return new RoleAssignment(
                Scope: id[..id.IndexOf("/providers/Microsoft.Authorization/roleAssignments/", StringComparison.OrdinalIgnoreCase)],
                Role: ((string)properties["roleDefinitionId"]!).Split('/')[^1],
                Principal: ArmExpression.Evaluate((string)properties["principalId"]!),
                PrincipalType: (string?)properties["principalType"],
                Name: (string)r["name"]!);
        }),
    ];
}

internal sealed record RoleAssignment(string Scope, string Role, string Principal, string? PrincipalType, string Name);
