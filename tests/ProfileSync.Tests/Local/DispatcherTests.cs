using Npgsql;
using PgNetWorker;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Local;

/// <summary>The whole loop on real processes and sockets: signup → signed trigger → pg_net queue → dispatcher → function → profile.</summary>
public sealed class DispatcherTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    [Fact]
    public async Task Signups_updates_and_deletes_reach_the_function_through_the_queue()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served.AuthEvents.ToString());
        await using var dispatcher = Dispatch();

        var users = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            users.Add(await Db.SignUpAsync(email: $"loop{i}@example.com", userMetadata: $$"""{"name":"Loop {{i}}"}"""));
        }

        await Eventually.HoldsAsync(async () => await Db.ScalarAsync<long>("select count(*) from public.user_profiles where created_via = 'webhook'") == 5);
        await Db.ExecuteAsync(
            """update auth.users set raw_user_meta_data = '{"name":"Changed"}', updated_at = now() + interval '1 second' where id = $1""",
            "supabase_auth_admin", users[0]);
        await Db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", users[1]);
        await Eventually.HoldsAsync(async () => (await Db.ProfileAsync(users[0]))?.DisplayName == "Changed");
        await Eventually.HoldsAsync(async () => await Db.ScalarAsync<long>("select count(*) from net._http_response where status_code = 200") == 7);

        Assert.Equal(0L, await Db.ProfileCountAsync(users[1]));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from net.http_request_queue"));
    }

    [Fact]
    public async Task With_the_function_down_deliveries_fail_and_the_reconcile_timer_heals_every_one()
    {
        await ConfigureAsync($"http://127.0.0.1:{Loopback.FreePort()}/api/auth-events"); // nothing listens there
        await using var dispatcher = Dispatch();

        var users = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            users.Add(await Db.SignUpAsync(email: $"down{i}@example.com"));
        }

        await Eventually.HoldsAsync(async () => await Db.ScalarAsync<long>("select count(*) from net._http_response where error_msg is not null") == 4);
        Assert.Equal(4L, await Db.UsersWithoutProfileAsync());

        await ReconcileTimer.RunAsync(Db.ConnectionString());

        Assert.All(users, user => Assert.Equal("replay", Db.ProfileAsync(user).Result!.CreatedVia));
        Assert.Equal(0L, await Db.UsersWithoutProfileAsync());
    }

    private async Task ConfigureAsync(string functionUrl)
    {
        await Db.ExecuteAsync("select vault.create_secret($1, 'profile_sync_function_url')", "postgres", functionUrl);
        await Db.ExecuteAsync("select vault.create_secret($1, 'profile_sync_webhook_secret')", "postgres", SupabaseEvents.Secret);
    }

    private RunningDispatcher Dispatch()
    {
        var source = NpgsqlDataSource.Create(Db.ConnectionString());
        var http = new HttpClient();
        var stop = new CancellationTokenSource();
        var run = Task.Run(() => new QueueDispatcher(source, http).RunAsync(cancellationToken: stop.Token));
        return new RunningDispatcher(source, http, stop, run);
    }


    private sealed record RunningDispatcher(NpgsqlDataSource Source, HttpClient Http, CancellationTokenSource Stop, Task Run) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Stop.CancelAsync();
            try
            {
                await Run;
            }
            catch (OperationCanceledException)
            {
            }

            Stop.Dispose();
            Http.Dispose();
            await Source.DisposeAsync();
        }
    }
}
