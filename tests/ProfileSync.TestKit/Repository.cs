namespace ProfileSync.TestKit;

/// <summary>The checkout the running tests or benchmark were built from.</summary>
public static class Repository
{
    /// <summary>The directory holding <c>ProfileFunctions.sln</c>, found upwards from the build output.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ProfileFunctions.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("ProfileFunctions.sln not found above " + AppContext.BaseDirectory);
    }
}
