// Replay speed against its baseline, measured in one run on one machine: healing N users without profiles with the
// batched replay engine vs. the single statement INSERT … SELECT … LEFT JOIN … IS NULL on the same data. Also the
// peak memory of this process and the time of `status`. Usage: ./dev.sh bench [--users N] [--batch-size N] [--rounds N]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ProfileSync;
using ProfileSync.Replay;
using ProfileSync.Status;

var users = Option("--users", 1_000_000);
var batchSize = Option("--batch-size", ProfileReplayer.DefaultBatchSize);
var rounds = Option("--rounds", 2);
var root = FindRoot();
var directory = Path.Combine(Path.GetTempPath(), "profilesync-bench-" + Guid.NewGuid().ToString("N")[..8]);
var port = FreePort();
Console.WriteLine($"Seeding a Supabase-shaped PostgreSQL with {users:N0} auth users (port {port})…");
await Cluster("start", directory, port.ToString(CultureInfo.InvariantCulture));
try
{
    var connectionString = $"Host=127.0.0.1;Port={port};Database=postgres;Username=postgres;Password=postgres;Command Timeout=0";
    await using var admin = NpgsqlDataSource.Create(connectionString.Replace("Username=postgres", "Username=supabase_admin", StringComparison.Ordinal));
    await Execute(admin, "update profile_sync.settings set fallback_trigger_enabled = false");
    await Execute(admin, $$"""
        insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
        select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
               'user' || g || '@example.com', jsonb_build_object('full_name', 'User ' || g), '{"provider":"email"}',
               now() - (g || ' seconds')::interval, now()
        from generate_series(1, {{users}}) g
        """);
    await Execute(admin, "vacuum analyze auth.users");

    using var services = new ServiceCollection()
        .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProfileSync:ConnectionString"] = connectionString,
            ["ProfileSync:Resilience:Deadline"] = "00:01:00",
        }).Build())
        .AddLogging()
        .AddProfileSync()
        .BuildServiceProvider();
    var replayer = services.GetRequiredService<ProfileReplayer>();
    var drift = services.GetRequiredService<DriftReader>();

    var baseline = new List<TimeSpan>();
    var replay = new List<TimeSpan>();
    TimeSpan statusAllMissing = default;
    for (var round = 1; round <= rounds; round++)
    {
        await Reset(admin);
        var clock = Stopwatch.StartNew();
        var report = await drift.ReadAsync();
        statusAllMissing = clock.Elapsed;
        Check(report.UsersWithoutProfile == users, "status before a run");

        clock.Restart();
        // The seed's kind of one-off backfill: one INSERT … SELECT … LEFT JOIN, constant attributes, no rules. As a sync
        // write (profile_sync.writer), so the ownership triggers stand aside as they do for the replay.
        await Execute(admin, """
            select set_config('profile_sync.writer', 'sync', true);
            insert into public.user_profiles (user_id, email, display_name, is_active, attributes, source_updated_at, created_via)
            select u.id, u.email, coalesce(u.raw_user_meta_data ->> 'full_name', u.email), true,
                   '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}',
                   u.updated_at, 'replay'
            from auth.users u
            left join public.user_profiles up on up.user_id = u.id
            where up.user_id is null;
            """);
        baseline.Add(clock.Elapsed);
        Console.WriteLine($"round {round}: single statement {clock.Elapsed.TotalSeconds:N2} s");

        await Reset(admin);
        clock.Restart();
        var healed = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: batchSize));
        replay.Add(clock.Elapsed);
        Check(healed.Created == users, "replay created every profile");
        Console.WriteLine($"round {round}: replay          {clock.Elapsed.TotalSeconds:N2} s");
    }

    var statusClock = Stopwatch.StartNew();
    var inSync = await drift.ReadAsync();
    var statusInSync = statusClock.Elapsed;
    Check(inSync.InSync && inSync.Profiles == users, "status after replay");

    var best = baseline.Min();
    var bestReplay = replay.Min();
    var peakMb = Process.GetCurrentProcess().PeakWorkingSet64 / 1024.0 / 1024.0;
    Console.WriteLine();
    Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1024 / 1024 / 1024} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; PostgreSQL 15, durable settings");
    Console.WriteLine($"{users:N0} auth users without profiles, best of {rounds} rounds each, run alternately");
    Console.WriteLine();
    Console.WriteLine("| run | time | ratio to baseline |");
    Console.WriteLine("|---|---:|---:|");
    Console.WriteLine($"| single statement (baseline) | {best.TotalSeconds:N2} s | 1.00 |");
    Console.WriteLine($"| replay, batches of {batchSize:N0} | {bestReplay.TotalSeconds:N2} s | {bestReplay / best:N2} |");
    var worst = Enumerable.Range(0, rounds).MaxBy(i => replay[i] / baseline[i]);
    Console.WriteLine($"| replay, worst round (round {worst + 1}) against its own baseline | {replay[worst].TotalSeconds:N2} s | {replay[worst] / baseline[worst]:N2} |");
    Console.WriteLine($"| status, all {users:N0} missing | {statusAllMissing.TotalSeconds:N2} s | |");
    Console.WriteLine($"| status, in sync | {statusInSync.TotalSeconds:N2} s | |");
    Console.WriteLine();
    Console.WriteLine($"Peak working set of this process (replay engine and all): {peakMb:N0} MB");
}
finally
{
    await Cluster("stop", directory, "--remove");
}

static async Task Reset(NpgsqlDataSource admin)
{
    await Execute(admin, "truncate public.user_profiles");
    await Execute(admin, "checkpoint");
}

static async Task Execute(NpgsqlDataSource source, string sql)
{
    await using var command = source.CreateCommand(sql);
    await command.ExecuteNonQueryAsync();
}

static void Check(bool condition, string what)
{
    if (!condition)
    {
        throw new InvalidOperationException("benchmark check failed: " + what);
    }
}

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

async Task Cluster(params string[] arguments)
{
    var start = new ProcessStartInfo("bash") { WorkingDirectory = root };
    start.ArgumentList.Add(Path.Combine(root, "supabase", "local", "cluster.sh"));
    foreach (var argument in arguments)
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    await process.WaitForExitAsync();
    Check(process.ExitCode == 0, "cluster.sh " + arguments[0]);
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static string FindRoot()
{
    for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
    {
        if (File.Exists(Path.Combine(directory.FullName, "ProfileFunctions.sln")))
        {
            return directory.FullName;
        }
    }

    throw new InvalidOperationException("ProfileFunctions.sln not found");
}
