using System.Net;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Events;

/// <summary>
/// <c>POST /api/auth-events</c> over real HTTP (<c>profilesync serve</c>) on real PostgreSQL, directly and through
/// pgbouncer in transaction mode. The fallback trigger is off so the webhook path does the work.
/// </summary>
public sealed class AuthEventsOverHttpTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    private const string WrongSecret = "v1,whsec_d3Jvbmctc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY=";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Two_hundred_concurrent_deliveries_of_one_insert_make_one_profile(bool throughPooler)
    {
        await using var served = await ServeAsync(throughPooler);
        var userId = await Db.SignUpAsync(email: "once@example.com");
        var body = SupabaseEvents.Insert(userId, "once@example.com", metadata: new { name = "Once" });

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => served.SendAsync(body)));

        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.Single(results, r => r.Outcome == "created");
        Assert.Equal(199, results.Count(r => r.Outcome == "unchanged"));
        Assert.Equal(1L, await Db.ProfileCountAsync(userId));
        Assert.Equal("webhook", (await Db.ProfileAsync(userId))!.CreatedVia);
    }

    [Fact]
    public async Task Deliveries_that_arrive_together_share_convergence_calls_and_each_gets_its_own_outcome()
    {
        await Db.ExecuteAsync($"alter database \"{Db.Name}\" set track_functions = 'pl'", "supabase_admin");
        await Db.SignUpManyAsync(300);
        var users = (await Truth.DerivedAsync(Db)).Select(p => p.UserId).ToList();
        var served = await ServeAsync(throughPooler: false);
        (HttpStatusCode, string?)[] results;
        try
        {
            results = await Task.WhenAll(users.Select(id => served.SendAsync(SupabaseEvents.Insert(id))));
        }
        finally
        {
            await served.DisposeAsync(); // its connections close, and their backends report their statistics
        }

        Db.ClearPools(); // this test's own postgres connections too, so none is left to wait for

        Assert.All(results, r => Assert.Equal((HttpStatusCode.OK, "created"), r));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        long calls = 0;
        await Eventually.HoldsAsync(async () =>
        {
            calls = await Db.ScalarAsync<long>(
                "select coalesce(sum(calls), 0)::bigint from pg_stat_user_functions where schemaname = 'profile_sync' and funcname = 'converge'",
                "supabase_admin");
            return calls > 0 && await Db.ScalarAsync<long>(
                "select count(*) from pg_stat_activity where datname = current_database() and usename = 'postgres'", "supabase_admin") == 0;
        });
        Assert.InRange(calls, 1, users.Count / 2);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Any_order_of_events_with_duplicates_ends_with_what_auth_users_holds_now(bool throughPooler)
    {
        await using var served = await ServeAsync(throughPooler);
        var random = new Random(20261124);
        for (var round = 0; round < 12; round++)
        {
            var userId = await Db.SignUpAsync(email: $"v0-{round}@example.com", userMetadata: """{"name":"First"}""");
            var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes(round);
            var events = new List<string>
            {
                SupabaseEvents.Insert(userId, $"v0-{round}@example.com", metadata: new { name = "First" }, updatedAt: t0),
                SupabaseEvents.Update(userId, $"v1-{round}@example.com", metadata: new { name = "Second" }, updatedAt: t0.AddSeconds(1)),
                // A body whose updated_at lies far in the future: it must not freeze the profile.
                SupabaseEvents.Update(userId, "forged@example.com", metadata: new { name = "Forged" }, updatedAt: DateTime.MaxValue.AddDays(-1)),
            };
            await Db.UpdateUserAsync(userId, "email = $2, raw_user_meta_data = '{\"name\":\"Second\"}'", $"v1-{round}@example.com");
            await Db.UpdateUserAsync(userId, "email = $2, raw_user_meta_data = '{\"full_name\":\"Third\"}', banned_until = now() + interval '30 days'",
                $"v2-{round}@example.com");
            events.AddRange(Enumerable.Range(0, 3).Select(_ => events[random.Next(3)]));
            var shuffled = events.OrderBy(_ => random.Next()).ToList();

            // Half the rounds one after another, half all at once.
            if (round % 2 == 0)
            {
                foreach (var body in shuffled)
                {
                    Assert.Equal(HttpStatusCode.OK, (await served.SendAsync(body)).Status);
                }
            }
            else
            {
                Assert.All(await Task.WhenAll(shuffled.Select(body => served.SendAsync(body))), r => Assert.Equal(HttpStatusCode.OK, r.Status));
            }

            var profile = await Db.ProfileAsync(userId);
            Assert.Equal($"v2-{round}@example.com", profile!.Email);
            Assert.Equal("Third", profile.DisplayName);
            Assert.False(profile.IsActive);
        }
    }

    [Fact]
    public async Task Admin_set_attributes_survive_later_updates()
    {
        await using var served = await ServeAsync();
        var userId = await Db.SignUpAsync(email: "staff@example.com");
        await served.SendAsync(SupabaseEvents.Insert(userId, "staff@example.com"));
        await Db.ExecuteAsync(
            """update public.user_profiles set attributes = '{"role":"admin","department":"Ops"}' where user_id = $1""", "postgres", userId);
        await Db.UpdateUserAsync(userId, "email = 'staff2@example.com', raw_user_meta_data = '{\"name\":\"Staff\"}'");

        var (_, outcome) = await served.SendAsync(SupabaseEvents.Update(userId, "staff2@example.com", metadata: new { name = "Staff" }));

        Assert.Equal("updated", outcome);
        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("staff2@example.com", "Staff"), (profile!.Email, profile.DisplayName));
        Assert.Equal("""{"role": "admin", "department": "Ops"}""", profile.Attributes);
    }

    [Fact]
    public async Task Update_arriving_before_its_insert_creates_the_profile()
    {
        await using var served = await ServeAsync();
        var userId = await Db.SignUpAsync(email: "early@example.com");

        var (_, outcome) = await served.SendAsync(SupabaseEvents.Update(userId, "early@example.com", updatedAt: DateTime.UtcNow));

        Assert.Equal("created", outcome);
    }

    [Fact]
    public async Task Delete_answers_deleted_whether_or_not_the_cascade_already_removed_the_profile()
    {
        await using var served = await ServeAsync();
        var userId = await Db.SignUpAsync(email: "leaving@example.com");
        await served.SendAsync(SupabaseEvents.Insert(userId, "leaving@example.com"));
        await Db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", userId);

        var first = await served.SendAsync(SupabaseEvents.Delete(userId));
        var again = await served.SendAsync(SupabaseEvents.Delete(userId));

        Assert.Equal("deleted", first.Outcome);
        Assert.Equal("deleted", again.Outcome);
        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Delete_for_a_user_who_still_exists_removes_nothing()
    {
        await using var served = await ServeAsync();
        var userId = await Db.SignUpAsync(email: "staying@example.com");
        await served.SendAsync(SupabaseEvents.Insert(userId, "staying@example.com"));

        var (_, outcome) = await served.SendAsync(SupabaseEvents.Delete(userId));

        Assert.Equal("unchanged", outcome);
        Assert.Equal(1L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Event_for_a_user_who_no_longer_exists_is_ignored_and_writes_nothing()
    {
        await using var served = await ServeAsync();
        var gone = Guid.NewGuid();

        var insert = await served.SendAsync(SupabaseEvents.Insert(gone, "ghost@example.com"));
        var update = await served.SendAsync(SupabaseEvents.Update(gone, "ghost@example.com", updatedAt: DateTime.UtcNow));

        Assert.Equal((HttpStatusCode.OK, "ignored"), insert);
        Assert.Equal((HttpStatusCode.OK, "ignored"), update);
        Assert.Equal(0L, await Db.ProfileCountAsync(gone));
    }

    [Fact]
    public async Task Phone_only_and_anonymous_users_get_profiles_through_the_webhook()
    {
        await using var served = await ServeAsync();
        var phoneUser = await Db.SignUpAsync(phone: "15550009999");
        var anonymous = await Db.SignUpAsync(anonymous: true);

        await served.SendAsync(SupabaseEvents.Insert(phoneUser, phone: "15550009999"));
        await served.SendAsync(SupabaseEvents.Insert(anonymous));

        Assert.Equal(new Profile(phoneUser, null, "15550009999", true, DefaultAttributesJson, "webhook", (await Db.ProfileAsync(phoneUser))!.SourceUpdatedAt),
            await Db.ProfileAsync(phoneUser));
        var profile = await Db.ProfileAsync(anonymous);
        Assert.Null(profile!.Email);
        Assert.Null(profile.DisplayName);
    }

    [Fact]
    public async Task After_user_created_signed_as_auth_signs_it_makes_the_profile_and_gets_an_answer_auth_accepts()
    {
        await using var served = await ServeAsync();
        var userId = await Db.SignUpAsync(email: "hooked@example.com", userMetadata: """{"display_name":"Hooked"}""");

        // Signed with two secrets, as Auth signs during a rotation: one this app no longer knows, and its own.
        var answer = await SupabaseAuthHookClient.CallAsync(served.Client, served.AuthEvents,
            SupabaseAuthHookClient.Body("after-user-created", userId, "hooked@example.com"), WrongSecret, SupabaseEvents.Secret);

        Assert.Null(answer.Refusal);
        Assert.Equal((HttpStatusCode.OK, "created"), (answer.Status, answer.Outcome));
        Assert.Equal("Hooked", (await Db.ProfileAsync(userId))!.DisplayName);
        Assert.Equal("webhook", (await Db.ProfileAsync(userId))!.CreatedVia);
    }

    [Fact]
    public async Task A_signup_hook_with_a_wrong_secret_or_a_tampered_body_is_refused_and_auth_fails_that_signup()
    {
        await using var served = await ServeAsync();
        var userId = await Db.SignUpAsync(email: "tampered@example.com");
        var body = SupabaseAuthHookClient.Body("after-user-created", userId, "tampered@example.com");

        var wrongSecret = await SupabaseAuthHookClient.CallAsync(served.Client, served.AuthEvents, body, WrongSecret);
        using var tampered = SupabaseAuthHookClient.Request(served.AuthEvents, body, SupabaseEvents.Secret);
        tampered.Content = new StringContent(body.Replace("tampered@", "tampered2@", StringComparison.Ordinal), System.Text.Encoding.UTF8, "application/json");
        using var tamperedAnswer = await served.Client.SendAsync(tampered);

        Assert.Equal((HttpStatusCode.Unauthorized, "Hook requires authorization token"), (wrongSecret.Status, wrongSecret.Refusal));
        Assert.Equal(HttpStatusCode.Unauthorized, tamperedAnswer.StatusCode);
        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Wrong_secret_is_refused_and_writes_nothing()
    {
        await using var served = await ServeAsync();
        var userId = await Db.SignUpAsync(email: "forged@example.com");

        var (status, _) = await served.SendAsync(
            SupabaseEvents.Insert(userId, "forged@example.com"), WrongSecret);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Health_answers_over_http()
    {
        await using var served = await ServeAsync();

        using var response = await served.Client.GetAsync(new Uri("/api/health", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private const string DefaultAttributesJson =
        """{"role": "user", "is_admin": false, "department": "General", "permissions": {}, "access_level": "basic", "is_super_admin": false}""";

    private Task<ServedApp> ServeAsync(bool throughPooler = false) => ServedApp.StartAsync(Db, throughPooler);
}
