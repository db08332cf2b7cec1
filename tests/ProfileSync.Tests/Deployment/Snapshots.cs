namespace ProfileSync.Tests.Deployment;

/// <summary>The two deployments of infra/main.bicep the tests read, each snapshotted once.</summary>
internal static class Snapshots
{
    /// <summary>The object id of whoever deploys, as azd passes it in AZURE_PRINCIPAL_ID.</summary>
    public const string Deployer = "33333333-3333-3333-3333-333333333333";

    private static readonly Lazy<DeploymentSnapshot> Defaults = new(() => Bicep.Snapshot(new Dictionary<string, object>
    {
        ["environmentName"] = "prod",
        ["location"] = DeploymentSnapshot.Location,
        ["principalId"] = Deployer,
    }));

    private static readonly Lazy<DeploymentSnapshot> EveryParameterChanged = new(() => Bicep.Snapshot(new Dictionary<string, object>
    {
        ["environmentName"] = "staging",
        ["location"] = DeploymentSnapshot.Location,
        ["principalId"] = "",
        ["maximumInstanceCount"] = 25,
        ["instanceMemoryMB"] = 4096,
        ["reconcileSchedule"] = "0 */30 * * * *",
        ["useWebhookBearerToken"] = true,
        ["enablePurgeProtection"] = false,
    }));

    /// <summary>As `azd up` deploys it: every default, and the signed-in user as the deployer.</summary>
    public static DeploymentSnapshot AsAzdUpDeploysIt => Defaults.Value;

    /// <summary>Every other parameter away from its default, and no deployer.</summary>
    public static DeploymentSnapshot Tuned => EveryParameterChanged.Value;
}
