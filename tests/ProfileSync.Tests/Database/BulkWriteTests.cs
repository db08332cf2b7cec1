using System.Net;
using System.Text;
using System.Text.Json;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>
/// One statement that changes many users, as an admin runs it: every profile follows at commit through the fallback,
/// and the wiring posts at most one request per 1,000 users, none for users the fallback converged. Requests are taken
/// from the pg_net stand-in's queue and sent as pg_net would send them.
/// </summary>
public sealed class BulkWriteTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    private const string Plan = """update auth.users set raw_app_meta_data = raw_app_meta_data || '{"plan":"pro"}'""";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_bulk_update_converges_every_profile_and_posts_only_what_the_fallback_did_not_converge(bool fallback)
    {
        var users = fallback ? 5000 : 2500;
        await SeedInSyncAsync(users);
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served.AuthEvents.ToString(), fallback);

        await Db.ExecuteAsync(Plan, "supabase_auth_admin");

        var queued = await QueuedAsync();
        if (fallback)
        {
            Assert.Empty(queued);
        }
        else
        {
            // One signed request per 1,000 users, each naming its users and nothing else about them.
            Assert.Equal(3, queued.Count);
            var named = queued.SelectMany(q => q.UserIds).ToList();
            Assert.All(queued, q => Assert.InRange(q.UserIds.Count, 1, 1000));
            Assert.Equal(users, named.Distinct().Count());
            Assert.Equal(users, named.Count);
            Assert.All(queued, q => Assert.DoesNotContain("@example.com", q.Body, StringComparison.Ordinal));
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK], await DeliverQueuedAsync());
        }

        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        Assert.Equal((long)users, await Db.ScalarAsync<long>("""select count(*) from public.user_profiles where attributes ->> 'department' = 'Pro'"""));
    }

    [Fact]
    public async Task A_bulk_ban_makes_every_profile_inactive_at_commit_and_lifting_it_active_again()
    {
        await SeedInSyncAsync(2000);
        await ConfigureAsync("http://127.0.0.1:1/api/auth-events", fallback: true);

        await Db.ExecuteAsync("update auth.users set banned_until = now() + interval '1 day' where email like 'bulk-1%'", "supabase_auth_admin");

        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        Assert.Equal(await Db.ScalarAsync<long>("select count(*) from auth.users where email like 'bulk-1%'"),
            await Db.ScalarAsync<long>("select count(*) from public.user_profiles where not is_active"));

        await Db.ExecuteAsync("update auth.users set banned_until = null where banned_until is not null", "supabase_auth_admin");

        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from public.user_profiles where not is_active"));
        Assert.Empty(await QueuedAsync());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_bulk_delete_removes_the_profiles_and_posts_within_the_bound(bool fallback)
    {
        await SeedInSyncAsync(3000);
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served.AuthEvents.ToString(), fallback);
        var deleted = await Db.ScalarAsync<long>("select count(*) from auth.users where email like 'bulk-2%'");

        await Db.ExecuteAsync("delete from auth.users where email like 'bulk-2%'", "supabase_auth_admin");

        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        Assert.Equal(3000L - deleted, await Db.ScalarAsync<long>("select count(*) from public.user_profiles"));
        var queued = await QueuedAsync();
        if (fallback)
        {
            Assert.Empty(queued);
        }
        else
        {
            Assert.Equal((int)((deleted + 999) / 1000), queued.Count);
            Assert.Equal(deleted, queued.Sum(q => q.UserIds.Count));
            Assert.All(await DeliverQueuedAsync(), status => Assert.Equal(HttpStatusCode.OK, status));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_bulk_statement_rolled_back_to_its_savepoint_leaves_nothing_and_the_next_one_commits(bool fallback)
    {
        await SeedInSyncAsync(1500);
        await ConfigureAsync("http://127.0.0.1:1/api/auth-events", fallback);

        await Db.ExecuteAsync(
            """
            begin;
            savepoint s;
            update auth.users set raw_user_meta_data = '{"name":"Rolled Back"}';
            rollback to savepoint s;
            update auth.users set raw_user_meta_data = jsonb_build_object('name', 'Kept ' || email) where email like 'bulk-1%';
            commit;
            """,
            "supabase_auth_admin");

        var kept = await Db.ScalarAsync<long>("select count(*) from auth.users where email like 'bulk-1%'");
        if (fallback)
        {
            Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
            Assert.Equal(kept, await Db.ScalarAsync<long>("select count(*) from public.user_profiles where display_name like 'Kept %'"));
            Assert.Empty(await QueuedAsync());
        }
        else
        {
            // Only the users of the statement that committed are posted, each once.
            var named = (await QueuedAsync()).SelectMany(q => q.UserIds).ToList();
            Assert.Equal(kept, named.Count);
            Assert.Equal(kept, named.Distinct().Count());
        }

        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from public.user_profiles where display_name = 'Rolled Back'"));
    }

    [Fact]
    public async Task A_signup_then_a_bulk_update_in_one_transaction_commits_every_profile_with_both()
    {
        await SeedInSyncAsync(1200);
        await ConfigureAsync("http://127.0.0.1:1/api/auth-events", fallback: true);
        var id = Guid.NewGuid();

        await Db.ExecuteAsync(
            $$"""
            begin;
            insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', '{{id}}', 'authenticated', 'authenticated', 'mixed@example.com',
                    '{"full_name":"Mixed"}', '{"provider":"email"}', now(), now());
            {{Plan}};
            commit;
            """,
            "supabase_auth_admin");

        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        var profile = await Db.ProfileAsync(id);
        Assert.Equal(("Mixed", "auth_trigger"), (profile!.DisplayName, profile.CreatedVia));
        Assert.Equal(1201L, await Db.ScalarAsync<long>("""select count(*) from public.user_profiles where attributes ->> 'department' = 'Pro'"""));
        Assert.Empty(await QueuedAsync());
    }

    [Fact]
    public async Task A_user_whose_profile_cannot_be_written_is_set_aside_and_the_bulk_statement_still_commits()
    {
        await SeedInSyncAsync(1500);
        await ConfigureAsync("http://127.0.0.1:1/api/auth-events", fallback: true);
        await Db.ExecuteAsync("alter table public.user_profiles add constraint no_mallory check (display_name <> 'Mallory')", "supabase_admin");
        var mallory = await Db.ScalarAsync<Guid>("select id from auth.users where email = 'bulk-7@example.com'");

        await Db.ExecuteAsync(
            """update auth.users set raw_user_meta_data = jsonb_build_object('name', case when email = 'bulk-7@example.com' then 'Mallory' else 'Renamed ' || email end)""",
            "supabase_auth_admin");

        Assert.Equal(1500L, await Db.ScalarAsync<long>("""select count(*) from auth.users where raw_user_meta_data ? 'name'"""));
        var derived = await Truth.DerivedAsync(Db);
        var profiles = await Truth.ProfilesAsync(Db);
        Assert.Equal(derived.Where(p => p.UserId != mallory), profiles.Where(p => p.UserId != mallory));
        Assert.Equal("bulk-7@example.com", profiles.Single(p => p.UserId == mallory).DisplayName);
        Assert.Equal("auth_trigger no_mallory", await Db.ScalarAsync<string>(
            "select via || ' ' || constraint_name from profile_sync.convergence_failures where user_id = $1", "supabase_admin", mallory));
        // The fallback converged everyone else: the one set aside is posted, for the function to try.
        var request = Assert.Single(await QueuedAsync());
        Assert.Equal([mallory], request.UserIds);
    }

    [Fact]
    public async Task A_transaction_that_changes_users_one_statement_at_a_time_queues_one_event()
    {
        await SeedInSyncAsync(50);
        await ConfigureAsync("http://127.0.0.1:1/api/auth-events", fallback: false);
        await Db.ExecuteAsync($"alter database \"{Db.Name}\" set track_functions = 'pl'", "supabase_admin");
        Db.ClearPools();
        var ids = (await Truth.DerivedAsync(Db)).Select(p => p.UserId).Take(20).ToList();

        await Db.ExecuteAsync(
            "begin; " + string.Concat(ids.Select(id => $"update auth.users set raw_user_meta_data = '{{\"name\":\"One By One\"}}' where id = '{id}'; ")) + "commit;",
            "supabase_auth_admin");
        Db.ClearPools(); // its backend exits and reports its statistics

        var request = Assert.Single(await QueuedAsync());
        Assert.Equal(ids.Order(), request.UserIds.Order());
        long calls = 0;
        await Eventually.HoldsAsync(async () => (calls = await Db.ScalarAsync<long>(
            "select coalesce(sum(calls), 0)::bigint from pg_stat_user_functions where schemaname = 'profile_sync' and funcname = 'on_auth_user_change'",
            "supabase_admin")) > 0);
        Assert.Equal(1L, calls);
    }

    /// <summary>Users bulk-1 … bulk-N with their profiles in sync, and a rule that a bulk update makes them match.</summary>
    private async Task SeedInSyncAsync(int users)
    {
        await Db.SignUpManyAsync(users);
        await Db.ExecuteAsync("select * from profile_sync.reconcile()");
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (app_metadata, attributes) values ('{"plan":"pro"}', '{"department":"Pro"}')""");
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    private async Task ConfigureAsync(string url, bool fallback)
    {
        await Db.ExecuteAsync("select vault.create_secret($1, 'profile_sync_function_url')", "postgres", url);
        await Db.ExecuteAsync("select vault.create_secret($1, 'profile_sync_webhook_secret')", "postgres", SupabaseEvents.Secret);
        await Db.ExecuteAsync($"update profile_sync.settings set fallback_trigger_enabled = {fallback}");
    }

    private async Task<List<Queued>> QueuedAsync()
    {
        var requests = new List<Queued>();
        await using var command = Db.As().CreateCommand("select body from net.http_request_queue order by id");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var body = Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0));
            var root = JsonDocument.Parse(body).RootElement;
            Assert.Equal("BULK", root.GetProperty("type").GetString());
            requests.Add(new Queued(body, [.. root.GetProperty("user_ids").EnumerateArray().Select(id => Guid.Parse(id.GetString()!))]));
        }

        return requests;
    }

    private sealed record Queued(string Body, List<Guid> UserIds);
}
