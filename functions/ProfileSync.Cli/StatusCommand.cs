using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ProfileSync.Status;

namespace ProfileSync.Cli;

/// <summary><c>profilesync status [--json] [--exit-code]</c>: the drift between auth.users and public.user_profiles, with one verdict line.</summary>
internal static class StatusCommand
{
    public static Command Create(Option<string?> connection, TextWriter output)
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var exitCode = new Option<bool>("--exit-code") { Description = $"Exit with {ProfileSyncCli.Drifting} when anything drifted (0 when in sync)" };
        var command = new Command("status", "Count auth users, profiles, and the drift: users without a profile, stale profiles, profiles without a user") { json, exitCode };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            await using var services = ProfileSyncCli.BuildServices(parsed.GetValue(connection));
            var report = await services.GetRequiredService<DriftReader>().ReadAsync(cancellationToken: cancellationToken);
            await output.WriteLineAsync(parsed.GetValue(json) ? JsonSerializer.Serialize(report, ProfileSyncCli.JsonReport) : Format(report));
            return parsed.GetValue(exitCode) && !report.InSync ? ProfileSyncCli.Drifting : ProfileSyncCli.Success;
        });
        return command;
    }

    internal static string Format(DriftReport report)
    {
        var staleFields = string.Join(", ", report.StaleFields.Where(f => f.Value > 0).Select(f => $"{f.Key} {f.Value:N0}"));
        var lines = new List<string>
        {
            $"Auth users                {report.AuthUsers,12:N0}",
            $"Profiles                  {report.Profiles,12:N0}",
            $"Users without a profile   {report.UsersWithoutProfile,12:N0}{Sample(report.SampleUsersWithoutProfile, report.UsersWithoutProfile)}",
            $"Stale profiles            {report.StaleProfiles,12:N0}{Sample(report.SampleStaleProfiles, report.StaleProfiles)}",
        };
        if (staleFields.Length > 0)
        {
            lines.Add($"  stale fields            {staleFields}");
        }

        lines.Add($"Profiles without a user   {report.ProfilesWithoutUser,12:N0}{Sample(report.SampleProfilesWithoutUser, report.ProfilesWithoutUser)}");
        if (report.FailedProfiles > 0)
        {
            lines.Add($"Could not be written      {report.FailedProfiles,12:N0}   set aside by the last convergence that met them:");
            lines.AddRange(report.SampleFailedProfiles.Select(f => $"  {f.UserId}   {f.Reason}"));
        }

        lines.AddRange(report.UnfinishedReplays.Select(r => string.Create(CultureInfo.InvariantCulture,
            $"Unfinished {(r.DryRun ? "dry run" : "replay"),-15}{r.Done,12:P0}   of everyone, started {r.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, stopped {r.StoppedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC: the next replay of everyone goes on from there")));
        lines.Add("");
        lines.AddRange(report.Warnings.Select(warning => $"Warning: {warning}"));
        lines.Add(report.InSync
            ? "In sync: every auth user has exactly one profile, and every profile is what auth.users implies."
            : report.FailedProfiles > 0
                ? "Drifting: converge with `profilesync replay`; a profile that could not be written needs its cause fixed first (`profilesync explain --user-id …` says what refused it)."
                : "Drifting: converge with `profilesync replay` (see what it would change first with --dry-run).");
        return string.Join(Environment.NewLine, lines);
    }

    private static string Sample(IReadOnlyList<Guid> ids, long total) =>
        ids.Count == 0 ? "" : $"   {(ids.Count < total ? "newest: " : "")}{string.Join(", ", ids)}";
}
