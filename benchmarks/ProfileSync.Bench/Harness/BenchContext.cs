using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ProfileSync.Replay;
using ProfileSync.Status;
using static ProfileSync.Bench.Harness.Sql;

namespace ProfileSync.Bench.Harness;

/// <summary>
/// One run on its seeded database: the options, the connections each side uses, the product's services, and the
/// report the rows go to. Scenarios measure through <see cref="MeasureAsync"/>.
/// </summary>
internal sealed class BenchContext : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private BenchContext(BenchOptions options, string connectionString, NpgsqlDataSource admin, ServiceProvider services)
    {
        Options = options;
        ConnectionString = connectionString;
        Admin = admin;
        _services = services;
        Replayer = services.GetRequiredService<ProfileReplayer>();
        Drift = services.GetRequiredService<DriftReader>();
        // Supabase Auth's pool (pgx) hands a connection back as it is; Npgsql's would send DISCARD ALL first, which drops
        // every cached plan of the session, the fallback trigger's too, so each signup would plan its convergence again.
        AuthConnectionString = connectionString.Replace("Username=postgres", "Username=supabase_auth_admin", StringComparison.Ordinal) + ";No Reset On Close=true";
    }

    public BenchOptions Options { get; }

    /// <summary>The product's connection: nothing but a connection string, as it ships.</summary>
    public string ConnectionString { get; }

    /// <summary>Supabase Auth's role, for signups and token refreshes as Auth runs them.</summary>
    public string AuthConnectionString { get; }

    /// <summary>The bench's own statements (seeding, baselines, resets), as supabase_admin, without a timeout.</summary>
    public NpgsqlDataSource Admin { get; }

    public ProfileReplayer Replayer { get; }

    public DriftReader Drift { get; }

    public BenchReport Report { get; } = new();

    /// <summary>Seeds <see cref="BenchOptions.Users"/> auth users (no profiles, the fallback trigger off) on a started cluster.</summary>
    public static async Task<BenchContext> SeedAsync(BenchOptions options, string connectionString)
    {
        var admin = NpgsqlDataSource.Create(connectionString.Replace("Username=postgres", "Username=supabase_admin", StringComparison.Ordinal) + ";Command Timeout=0");
        await Execute(admin, "update profile_sync.settings set fallback_trigger_enabled = false");
        await Execute(admin, $$"""
            insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
            select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
                   'user' || g || '@example.com', jsonb_build_object('full_name', 'User ' || g), '{"provider":"email"}',
                   now() - (g || ' seconds')::interval, now()
            from generate_series(1, {{options.Users}}) g
            """);
        await Execute(admin, "vacuum analyze auth.users");

        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ProfileSync:ConnectionString"] = connectionString,
            }).Build())
            .AddLogging()
            .AddProfileSync()
            .BuildServiceProvider();
        return new BenchContext(options, connectionString, admin, services);
    }

    /// <summary>
    /// pgx, under pop, prepares and caches each statement on its connection. Each run has a pool of its own: Go's
    /// database/sql hands out the connection returned last, so one client keeps one backend, warm; Npgsql's pool hands
    /// its idle connections out in turn, and one client after a 16-client run would go round 16 backends, each cold.
    /// </summary>
    public NpgsqlDataSource AuthPool() => NpgsqlDataSource.Create(AuthConnectionString + ";Max Auto Prepare=32");

    /// <summary>
    /// A row of the table, unless <c>--only</c> leaves it out: the product against its baseline, round after round,
    /// each returning its figure (seconds, or a rate with <paramref name="unit"/>).
    /// </summary>
    public async Task MeasureAsync(string name, string baselineName, string target, Func<Task<double>> product, Func<Task<double>> baseline, string unit = " s")
    {
        if (!Options.Wanted(name))
        {
            return;
        }

        var results = await RoundsAsync(product, baseline, (p, b, round) => Console.WriteLine($"  {name}: round {round}: {p:N2}{unit} against {b:N2}{unit}"));
        Report.Rows.Add(Row.From(name, baselineName, target, results, unit));
    }

    /// <summary><see cref="BenchOptions.Rounds"/> rounds of the product and its baseline, each returning its figures.</summary>
    public async Task<List<(T Product, T Baseline)>> RoundsAsync<T>(Func<Task<T>> product, Func<Task<T>> baseline, Action<T, T, int> done)
    {
        var results = new List<(T Product, T Baseline)>();
        for (var round = 1; round <= Options.Rounds; round++)
        {
            // Product first in odd rounds, baseline first in even ones: what drifts during a run (growing tables,
            // checkpoints, autovacuum) weighs on both alike.
            T p, b;
            if (round % 2 == 1)
            {
                p = await product();
                b = await baseline();
            }
            else
            {
                b = await baseline();
                p = await product();
            }

            results.Add((p, b));
            done(p, b, round);
        }

        return results;
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        await Admin.DisposeAsync();
    }
}
