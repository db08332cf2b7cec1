using ProfileSync.Cli;

namespace ProfileSync.Tests.Support;

/// <summary>Runs the <c>profilesync</c> command in-process, capturing what it prints.</summary>
public static class CliRunner
{
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exitCode = await ProfileSyncCli.RunAsync(args, output, error);
        return (exitCode, output.ToString(), error.ToString());
    }
}
