using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ProfileSync.Replay;
using Spectre.Console;

namespace ProfileSync.Cli;

/// <summary>
/// <c>profilesync replay [--dry-run] [--user-id ID…] [--created-after T] [--created-before T] [--batch-size N] [--json]</c>:
/// converges every profile in scope (creates, refreshes, removes). A live progress bar on a terminal, plain lines otherwise, a JSON report with --json.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create(Option<string?> connection, TextWriter output, TextWriter error)
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Count what would change without writing" };
        var userIds = new Option<Guid[]>("--user-id") { Description = "Only these users (repeat the option)", AllowMultipleArgumentsPerToken = true, CustomParser = OptionValues.UserIds };
        var after = new Option<DateTimeOffset?>("--created-after") { Description = "Only users created at or after this time (ISO 8601)", CustomParser = OptionValues.Time };
        var before = new Option<DateTimeOffset?>("--created-before") { Description = "Only users created before this time (ISO 8601)", CustomParser = OptionValues.Time };
        var batchSize = new Option<int>("--batch-size")
        {
            Description = $"Users per batch, each committed on its own ({ReplayRequest.MinBatchSize} to {ReplayRequest.MaxBatchSize})",
            DefaultValueFactory = _ => ReplayRequest.DefaultBatchSize,
            CustomParser = OptionValues.WholeNumber,
        };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var command = new Command("replay", "Converge profiles to auth.users: create missing ones, refresh stale ones, remove orphaned ones")
        {
            dryRun, userIds, after, before, batchSize, json,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var ids = parsed.GetValue(userIds);
            ReplayRequest request;
            try
            {
                request = new ReplayRequest(
                    new ReplayScope(ids is { Length: > 0 } ? ids : null, parsed.GetValue(after), parsed.GetValue(before)),
                    parsed.GetValue(dryRun),
                    parsed.GetValue(batchSize)).Validated(Names);
            }
            catch (FormatException e)
            {
                await error.WriteLineAsync($"profilesync: {e.Message}");
                return ProfileSyncCli.UsageError;
            }

            await using var services = ProfileSyncCli.BuildServices(parsed.GetValue(connection));
            var replayer = services.GetRequiredService<ProfileReplayer>();
            try
            {
                var report = parsed.GetValue(json)
                    ? await replayer.RunAsync(request, cancellationToken: cancellationToken)
                    : await RunWithProgressAsync(replayer, request, output, cancellationToken);
                await output.WriteLineAsync(parsed.GetValue(json) ? JsonSerializer.Serialize(report, ProfileSyncCli.JsonReport) : Format(report, request.BatchSize));
                if (report.Failed > 0)
                {
                    // Every other user converged; these need a person.
                    await error.WriteLineAsync($"profilesync: {SetAside(report)}");
                    return ProfileSyncCli.Failure;
                }

                return ProfileSyncCli.Success;
            }
            catch (ReplayAlreadyRunningException e)
            {
                await error.WriteLineAsync($"profilesync: {e.Message}");
                return ProfileSyncCli.Busy;
            }
            catch (ReplayLockLostException e)
            {
                await error.WriteLineAsync($"profilesync: {e.Message}");
                return ProfileSyncCli.Failure;
            }
        });
        return command;
    }

    /// <summary>The request's fields as this command's options name them.</summary>
    private static readonly ReplayFieldNames Names = new("--user-id", "--created-after", "--created-before", "--batch-size");

    private static async Task<ReplayReport> RunWithProgressAsync(
        ProfileReplayer replayer, ReplayRequest request, TextWriter output, CancellationToken cancellationToken)
    {
        if (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive)
        {
            // A bar with the share done and the time left, in 80 columns: the counts, then bar, percentage, time.
            ReplayReport? report = null;
            await AnsiConsole.Progress()
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 20 },
                         new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask(Counts(ReplayCounts.None, request.DryRun), maxValue: 1);
                    report = await replayer.RunAsync(request, new Progress<ReplayProgress>(p =>
                    {
                        task.Description = Counts(p.Counts, request.DryRun);
                        task.Value = p.Done;
                    }), cancellationToken);
                    task.Value = 1;
                    task.StopTask();
                });
            return report!;
        }

        // Not a terminal: one plain line per batch, for logs.
        var lines = new SynchronousProgress<ReplayProgress>(p => output.WriteLine(Describe(p, request.DryRun)));
        return await replayer.RunAsync(request, lines, cancellationToken);
    }

    private static string Counts(ReplayCounts c, bool dryRun) => dryRun
        ? string.Create(CultureInfo.InvariantCulture, $"would create {c.Missing:N0} refresh {c.Stale:N0} remove {c.Orphaned:N0}")
        : string.Create(CultureInfo.InvariantCulture, $"created {c.Created:N0} refreshed {c.Refreshed:N0} removed {c.Removed:N0}");

    /// <summary>The one line that says which users a replay set aside, and where to see why.</summary>
    internal static string SetAside(ReplayCounts counts) => string.Create(CultureInfo.InvariantCulture,
        $"{counts.Failed:N0} {(counts.Failed == 1 ? "profile" : "profiles")} could not be written and {(counts.Failed == 1 ? "was" : "were")} set aside ({string.Join(", ", counts.FailedUserIds)}{(counts.Failed > counts.FailedUserIds.Count ? ", …" : "")}); every other user converged. See why: profilesync explain --user-id {(counts.FailedUserIds.Count > 0 ? counts.FailedUserIds[0] : "…")}");

    internal static string Describe(ReplayProgress p, bool dryRun)
    {
        // A rate means something after a second; "20 users/s" for 5 users in 0.25 s does not.
        var rate = p.Elapsed.TotalSeconds >= 1 ? string.Create(CultureInfo.InvariantCulture, $"  {p.Counts.Scanned / p.Elapsed.TotalSeconds:N0} users/s") : "";
        var left = p.Remaining is { } remaining ? $"  about {remaining:h\\:mm\\:ss} left" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{p.Done * 100,3:F0}%  batch {p.Batches:N0}  scanned {p.Counts.Scanned:N0}  {Counts(p.Counts, dryRun)}{rate}{left}");
    }

    internal static string Format(ReplayReport report, int batchSize)
    {
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"Scanned                   {report.Scanned,12:N0}   in batches of {batchSize:N0}"),
            string.Create(CultureInfo.InvariantCulture, $"Missing                   {report.Missing,12:N0}   {Done(report.Created, "created")}"),
            string.Create(CultureInfo.InvariantCulture, $"Stale                     {report.Stale,12:N0}   {Done(report.Refreshed, "refreshed")}"),
            string.Create(CultureInfo.InvariantCulture, $"Orphaned                  {report.Orphaned,12:N0}   {Done(report.Removed, "removed")}"),
        };
        if (report.Failed > 0)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"Could not be written      {report.Failed,12:N0}   set aside: {string.Join(", ", report.FailedUserIds)}"));
        }

        lines.Add(string.Create(CultureInfo.InvariantCulture, $"Elapsed                   {report.ElapsedMs,9:N0} ms"));
        if (report.Resumed)
        {
            lines.Add("Went on from where an earlier replay of everyone stopped: the users before that were done by it.");
        }

        if (report.DryRun)
        {
            lines.Add("Dry run: nothing was written.");
        }

        return string.Join(Environment.NewLine, lines);

        // A dry run did nothing: it says what a run would do, not "created 0".
        string Done(long count, string verb) => report.DryRun ? $"would be {verb}" : string.Create(CultureInfo.InvariantCulture, $"{verb} {count:N0}");
    }
}
