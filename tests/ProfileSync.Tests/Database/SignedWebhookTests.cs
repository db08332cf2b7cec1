using System.Net;
using System.Text;
using System.Text.Json;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>
/// The signed Database Webhook migration on the pg_net and Vault stand-ins: what it queues, and that the function
/// accepts exactly that request. Requests are taken from the queue and sent as pg_net would send them.
/// </summary>
public sealed class SignedWebhookTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    [Fact]
    public async Task Unconfigured_wiring_queues_nothing_and_the_signup_succeeds()
    {
        var userId = await Db.SignUpAsync(email: "quiet@example.com");

        Assert.Equal(1L, await Db.ScalarAsync<long>("select count(*) from auth.users where id = $1", "postgres", userId));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from net.http_request_queue"));
    }

    [Fact]
    public async Task Signup_is_queued_signed_in_sql_and_the_function_creates_the_profile()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served, SupabaseEvents.Secret);

        var userId = await Db.SignUpAsync(email: "wired@example.com", userMetadata: """{"full_name":"Wired"}""");
        var queued = await QueuedAsync();

        Assert.Equal(15000, Assert.Single(queued).TimeoutMilliseconds);
        Assert.Equal([HttpStatusCode.OK], await DeliverQueuedAsync());
        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("webhook", "Wired"), (profile!.CreatedVia, profile.DisplayName));
    }

    [Fact]
    public async Task Queue_holds_the_signature_and_the_user_id_but_never_the_secret_password_hashes_or_personal_data()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served, SupabaseEvents.Secret);

        var userId = await Db.SignUpAsync(email: "private@example.com", phone: "15550004444", userMetadata: """{"name":"Private Person"}""");
        var request = Assert.Single(await QueuedAsync());

        var everything = request.Headers + Encoding.UTF8.GetString(request.Body);
        Assert.DoesNotContain(SupabaseEvents.Secret["v1,whsec_".Length..], everything, StringComparison.Ordinal);
        Assert.DoesNotContain("encrypted_password", everything, StringComparison.Ordinal);
        Assert.DoesNotContain("$2a$", everything, StringComparison.Ordinal);
        // pg_net's queue is readable by every role: an event names its user and nothing else about them.
        Assert.Contains(userId.ToString(), everything, StringComparison.Ordinal);
        Assert.DoesNotContain("private@example.com", everything, StringComparison.Ordinal);
        Assert.DoesNotContain("15550004444", everything, StringComparison.Ordinal);
        Assert.DoesNotContain("Private Person", everything, StringComparison.Ordinal);
        Assert.StartsWith("v1,", JsonDocument.Parse(request.Headers).RootElement.GetProperty("webhook-signature").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_secret_in_vault_is_refused_by_the_function_and_nothing_is_written()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served, "v1,whsec_d3Jvbmctc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY=");

        var userId = await Db.SignUpAsync(email: "refused@example.com");

        Assert.Equal([HttpStatusCode.Unauthorized], await DeliverQueuedAsync());
        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Update_and_delete_flow_through_the_same_way()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served, SupabaseEvents.Secret);
        var userId = await Db.SignUpAsync(email: "flow@example.com");
        await Db.ExecuteAsync(
            """update auth.users set raw_user_meta_data = '{"name":"Renamed"}', banned_until = now() + interval '1 day', updated_at = now() + interval '1 second' where id = $1""",
            "supabase_auth_admin",
            userId);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK], await DeliverQueuedAsync());

        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("Renamed", false), (profile!.DisplayName, profile.IsActive));

        await Db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", userId);
        var delete = Assert.Single(await QueuedAsync());
        Assert.Contains("\"type\": \"DELETE\"", Encoding.UTF8.GetString(delete.Body), StringComparison.Ordinal);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK], await DeliverQueuedAsync());
        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task A_real_signup_queues_one_request_a_sign_in_none_and_an_email_change_one()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        await ConfigureAsync(served, SupabaseEvents.Secret);
        var userId = await Db.SignUpLikeSupabaseAuthAsync("real@example.com", "Real Person");

        Assert.Single(await QueuedAsync());
        Assert.Equal([HttpStatusCode.OK], await DeliverQueuedAsync());
        Assert.Equal("Real Person", (await Db.ProfileAsync(userId))!.DisplayName); // the last write, read after commit

        await Db.UpdateUserAsync(userId, "last_sign_in_at = now()"); // a sign-in
        Assert.Empty(await QueuedAsync());

        await Db.UpdateUserAsync(userId, "email = 'moved@example.com', email_change = '', email_change_token_new = ''");
        Assert.Single(await QueuedAsync());
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK], await DeliverQueuedAsync());
        Assert.Equal("moved@example.com", (await Db.ProfileAsync(userId))!.Email);
    }

    // One trigger's WHEN names the facts a profile follows, for the fallback and the wiring alike: a change of exactly
    // those columns reaches both paths, and nothing else (a sign-in, a token, the role) reaches either.
    [Theory]
    [InlineData("email = 'other@example.com'", true)]
    [InlineData("phone = '15550009999'", true)]
    [InlineData("raw_user_meta_data = '{\"name\":\"New Name\"}'", true)]
    [InlineData("raw_app_meta_data = '{\"provider\":\"github\",\"providers\":[\"github\"]}'", true)]
    [InlineData("email_confirmed_at = now()", true)]
    [InlineData("banned_until = now() + interval '1 day'", true)]
    [InlineData("deleted_at = now()", true)]
    [InlineData("phone_confirmed_at = now()", true)]
    [InlineData("is_anonymous = true", true)]
    [InlineData("is_sso_user = true", true)]
    [InlineData("last_sign_in_at = now()", false)]
    [InlineData("confirmation_token = 'token'", false)]
    [InlineData("role = 'authenticated'", false)]
    public async Task The_wiring_and_the_fallback_follow_the_same_facts(string assignment, bool followed)
    {
        await Db.ExecuteAsync("select vault.create_secret('http://127.0.0.1:1/api/auth-events', 'profile_sync_function_url')");
        await Db.ExecuteAsync("select vault.create_secret($1, 'profile_sync_webhook_secret')", "postgres", SupabaseEvents.Secret);
        await Db.SetFallbackTriggerAsync(enabled: true);
        var userId = await Db.SignUpAsync(email: "facts@example.com");
        await Db.ExecuteAsync("truncate net.http_request_queue", "supabase_admin");
        await Db.ExecuteAsync("update public.user_profiles set email = 'stale@example.com' where user_id = $1", "postgres", userId);

        await Db.ExecuteAsync($"update auth.users set {assignment} where id = $1", "supabase_auth_admin", userId);

        // A convergence (the fallback's) puts the e-mail back to what auth.users holds.
        Assert.Equal(followed, (await Db.ProfileAsync(userId))!.Email != "stale@example.com");
        Assert.Equal(followed ? 1L : 0L, await Db.ScalarAsync<long>("select count(*) from net.http_request_queue"));
    }

    [Fact]
    public async Task Broken_configuration_only_warns_and_the_signup_succeeds()
    {
        await Db.ExecuteAsync("select vault.create_secret('http://127.0.0.1:1/api/auth-events', 'profile_sync_function_url')");
        await Db.ExecuteAsync("select vault.create_secret('v1,whsec_***not base64***', 'profile_sync_webhook_secret')");

        var userId = await Db.SignUpAsync(email: "broken@example.com");

        Assert.Equal(1L, await Db.ScalarAsync<long>("select count(*) from auth.users where id = $1", "postgres", userId));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from net.http_request_queue"));
    }

    private async Task ConfigureAsync(ServedApp served, string secret)
    {
        await Db.ExecuteAsync("select vault.create_secret($1, 'profile_sync_function_url')", "postgres", served.AuthEvents.ToString());
        await Db.ExecuteAsync("select vault.create_secret($1, 'profile_sync_webhook_secret')", "postgres", secret);
    }

    private async Task<List<QueuedRequest>> QueuedAsync()
    {
        var requests = new List<QueuedRequest>();
        await using var command = Db.As().CreateCommand("select url, headers::text, body, timeout_milliseconds from net.http_request_queue order by id");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            requests.Add(new QueuedRequest(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2), reader.GetInt32(3)));
        }

        return requests;
    }

    private sealed record QueuedRequest(string Url, string Headers, byte[] Body, int TimeoutMilliseconds);
}
