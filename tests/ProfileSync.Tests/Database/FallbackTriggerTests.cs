using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

public sealed class FallbackTriggerTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private const string DefaultAttributes =
        """{"role": "user", "is_admin": false, "department": "General", "permissions": {}, "access_level": "basic", "is_super_admin": false}""";

    [Fact]
    public async Task Signup_gets_a_profile_with_the_default_attributes_created_by_the_trigger()
    {
        var userId = await Db.SignUpAsync(email: "ada@example.com", userMetadata: """{"full_name":"Ada Lovelace"}""");

        var profile = await Db.ProfileAsync(userId);

        Assert.NotNull(profile);
        Assert.Equal("ada@example.com", profile.Email);
        Assert.Equal("Ada Lovelace", profile.DisplayName);
        Assert.True(profile.IsActive);
        Assert.Equal(DefaultAttributes, profile.Attributes);
        Assert.Equal("auth_trigger", profile.CreatedVia);
        Assert.NotNull(profile.SourceUpdatedAt);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_real_signup_gets_the_profile_of_its_last_write_at_commit_or_after_each_statement_when_immediate(bool immediate)
    {
        var userId = await Db.SignUpLikeSupabaseAuthAsync("real@example.com", "Real Person", immediate);

        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("Real Person", "auth_trigger"), (profile!.DisplayName, profile.CreatedVia));
        Assert.Equal(1L, await Db.ProfileCountAsync(userId));
    }

    // A signup writes its user five times; the first event, at commit, sees every write, so the others queue none.
    [Fact]
    public async Task A_real_signup_runs_the_triggers_function_once()
    {
        await Db.ExecuteAsync($"alter database \"{Db.Name}\" set track_functions = 'pl'", "supabase_admin");
        Db.ClearPools();
        await Db.SignUpLikeSupabaseAuthAsync("once@example.com", "Once");
        Db.ClearPools(); // its backend exits and reports its statistics

        long calls = 0;
        await Eventually.HoldsAsync(async () => (calls = await Db.ScalarAsync<long>(
            "select coalesce(sum(calls), 0)::bigint from pg_stat_user_functions where schemaname = 'profile_sync' and funcname = 'on_auth_user_change'",
            "supabase_admin")) > 0);
        Assert.Equal(1L, calls);
    }

    [Fact]
    public async Task A_write_after_the_users_event_ran_within_the_transaction_is_converged_too()
    {
        var id = Guid.NewGuid();
        await Db.ExecuteAsync(
            $$"""
            begin;
            insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', '{{id}}', 'authenticated', 'authenticated', 'mid@example.com',
                    '{"full_name":"First"}', '{"provider":"email"}', now(), now());
            set constraints all immediate;
            update auth.users set raw_user_meta_data = '{"full_name":"Second"}', updated_at = now() where id = '{{id}}';
            commit;
            """,
            "supabase_auth_admin");

        Assert.Equal("Second", (await Db.ProfileAsync(id))!.DisplayName);
    }

    [Fact]
    public async Task Default_attributes_changed_by_sql_apply_to_the_next_signup()
    {
        await Db.ExecuteAsync("""update profile_sync.settings set default_attributes = '{"role":"member","access_level":"basic"}'""");

        var userId = await Db.SignUpAsync(email: "new@example.com");

        Assert.Equal("""{"role": "member", "access_level": "basic"}""", (await Db.ProfileAsync(userId))!.Attributes);
    }

    [Theory]
    [InlineData("""{"display_name":"Dee","full_name":"Full","name":"Nm"}""", "d@example.com", "15550001", "Dee")]
    [InlineData("""{"full_name":"Full","name":"Nm"}""", "d@example.com", "15550002", "Full")]
    [InlineData("""{"name":"Nm"}""", "d@example.com", "15550003", "Nm")]
    [InlineData("""{"display_name":"  ","full_name":""}""", "d@example.com", "15550004", "d@example.com")]
    [InlineData("""{}""", null, "15550005", "15550005")]
    [InlineData("""{"display_name":"  Trimmed  "}""", null, null, "Trimmed")]
    [InlineData("""["not","an","object"]""", "d@example.com", null, "d@example.com")]
    [InlineData("""{"display_name":42}""", null, null, "42")]
    public async Task Display_name_is_the_first_non_blank_of_display_name_full_name_name_email_phone(
        string metadata, string? email, string? phone, string expected)
    {
        var userId = await Db.SignUpAsync(email: email, phone: phone, userMetadata: metadata);

        Assert.Equal(expected, (await Db.ProfileAsync(userId))!.DisplayName);
    }

    [Fact]
    public async Task Phone_only_user_gets_a_profile_without_email()
    {
        var userId = await Db.SignUpAsync(phone: "15557654321");

        var profile = await Db.ProfileAsync(userId);

        Assert.NotNull(profile);
        Assert.Null(profile.Email);
        Assert.Equal("15557654321", profile.DisplayName);
    }

    [Fact]
    public async Task Anonymous_user_gets_a_profile_with_no_email_and_no_display_name()
    {
        var userId = await Db.SignUpAsync(anonymous: true);

        var profile = await Db.ProfileAsync(userId);

        Assert.NotNull(profile);
        Assert.Null(profile.Email);
        Assert.Null(profile.DisplayName);
        Assert.True(profile.IsActive);
    }

    [Fact]
    public async Task User_banned_until_a_future_time_gets_an_inactive_profile()
    {
        var banned = await Db.SignUpAsync(email: "banned@example.com", bannedUntil: DateTime.UtcNow.AddDays(1));
        var banLifted = await Db.SignUpAsync(email: "lifted@example.com", bannedUntil: DateTime.UtcNow.AddDays(-1));

        Assert.False((await Db.ProfileAsync(banned))!.IsActive);
        Assert.True((await Db.ProfileAsync(banLifted))!.IsActive);
    }

    [Fact]
    public async Task Signup_succeeds_and_leaves_no_profile_when_creating_the_profile_fails()
    {
        // A failure inside the trigger's insert, after the row has been built.
        await Db.ExecuteAsync(
            "alter table public.user_profiles add constraint no_bob check (display_name is distinct from 'Bob')",
            "postgres");

        var bob = await Db.SignUpAsync(email: "bob@example.com", userMetadata: """{"name":"Bob"}""");
        var alice = await Db.SignUpAsync(email: "alice@example.com", userMetadata: """{"name":"Alice"}""");

        Assert.Equal(1L, await Db.ScalarAsync<long>("select count(*) from auth.users where id = $1", "postgres", bob));
        Assert.Equal(0L, await Db.ProfileCountAsync(bob));
        Assert.Equal(1L, await Db.ProfileCountAsync(alice));
    }

    [Fact]
    public async Task Signup_succeeds_when_the_settings_the_trigger_reads_are_gone()
    {
        await Db.ExecuteAsync("alter table profile_sync.settings rename to settings_moved");

        var userId = await Db.SignUpAsync(email: "still@example.com");

        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
        Assert.Equal(1L, await Db.ScalarAsync<long>("select count(*) from auth.users where id = $1", "postgres", userId));
    }

    [Fact]
    public async Task Failure_inside_the_trigger_is_reported_as_a_warning()
    {
        await Db.ExecuteAsync("alter table public.user_profiles add constraint never check (false) not valid");
        var notices = new List<PostgresNotice>();
        await using var connection = await Db.As("supabase_auth_admin").OpenConnectionAsync();
        connection.Notice += (_, e) => notices.Add(e.Notice);
        await using var insert = new NpgsqlCommand(
            "insert into auth.users (id, email, created_at, updated_at) values (gen_random_uuid(), 'w@example.com', now(), now())",
            connection);

        await insert.ExecuteNonQueryAsync();

        var warning = Assert.Single(notices, n => n.Severity == "WARNING");
        Assert.Contains("no profile converged for auth user", warning.MessageText, StringComparison.Ordinal);
        Assert.DoesNotContain("w@example.com", warning.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_an_auth_user_removes_the_profile()
    {
        var userId = await Db.SignUpAsync(email: "gone@example.com");
        Assert.Equal(1L, await Db.ProfileCountAsync(userId));

        await Db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", userId);

        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Switched_off_the_trigger_creates_no_profile_and_switched_on_again_it_does()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        var whileOff = await Db.SignUpAsync(email: "off@example.com");

        await Db.SetFallbackTriggerAsync(enabled: true);
        var whileOn = await Db.SignUpAsync(email: "on@example.com");

        Assert.Equal(0L, await Db.ProfileCountAsync(whileOff));
        Assert.Equal(1L, await Db.ProfileCountAsync(whileOn));
    }

    [Fact]
    public async Task Existing_profile_is_not_overwritten_by_the_trigger()
    {
        var userId = Guid.NewGuid();
        await Db.ExecuteAsync("alter table public.user_profiles drop constraint user_profiles_user_id_fkey");
        await Db.ExecuteAsync(
            """insert into public.user_profiles (user_id, display_name, attributes, created_via) values ($1, 'Admin set', '{"role":"admin"}', 'webhook')""",
            "postgres",
            userId);

        await Db.SignUpAsync(email: "x@example.com", id: userId);

        var profile = await Db.ProfileAsync(userId);
        Assert.Equal("Admin set", profile!.DisplayName);
        Assert.Equal("""{"role": "admin"}""", profile.Attributes);
        Assert.Equal("webhook", profile.CreatedVia);
    }

    [Fact]
    public async Task Search_path_hijack_does_not_change_what_the_trigger_does()
    {
        // Same-named objects in a schema first on the signing-up role's path.
        await Db.ExecuteAsync(
            """
            create schema evil;
            grant usage on schema evil to public;
            create table evil.user_profiles (like public.user_profiles);
            grant all on evil.user_profiles to public;
            create table evil.settings (singleton boolean, default_attributes jsonb, fallback_trigger_enabled boolean);
            insert into evil.settings values (true, '{"role":"hijacked"}', false);
            grant all on evil.settings to public;
            create function evil.btrim(text) returns text language sql as $$ select 'hijacked' $$;
            create function evil.now() returns timestamptz language sql as $$ select 'epoch'::timestamptz $$;
            create function evil.display_name(jsonb, text, text) returns text language sql as $$ select 'hijacked' $$;
            """);
        await Db.ExecuteAsync(
            "alter role supabase_auth_admin in database \"" + Db.Name + "\" set search_path = evil, auth, public", "supabase_admin");

        var userId = await Db.SignUpAsync(email: "victim@example.com", userMetadata: """{"name":" Victim "}""");

        var profile = await Db.ProfileAsync(userId);
        Assert.NotNull(profile);
        Assert.Equal("Victim", profile.DisplayName);
        Assert.Equal(DefaultAttributes, profile.Attributes);
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from evil.user_profiles"));
    }
}
