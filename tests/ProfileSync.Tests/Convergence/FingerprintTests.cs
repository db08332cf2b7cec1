using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// A pass over everyone (status, reconcile) derives again only the profiles whose fingerprint
/// (user_profiles.source_fingerprint) is not the one their user's facts give now. Whatever the mapping depends on, a
/// change of it is still drift that status reports and reconcile converges: each test converges everyone with the
/// fallback on, switches it off, changes one thing the mapping reads, and compares with <see cref="Truth"/>.
/// </summary>
public sealed class FingerprintTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    [Fact]
    public async Task Every_convergence_stores_the_current_fingerprint_so_a_pass_derives_no_profile_in_sync()
    {
        var users = await UsersAsync(3);
        await Db.SetFallbackTriggerAsync(enabled: false);
        var late = await Db.SignUpAsync(email: "late@example.com");
        await ReconcileAsync();

        Assert.Equal(0L, await Db.ScalarAsync<long>(
            "select count(*) from profile_sync.profile_state where not fingerprint_current", "supabase_admin"));
        Assert.Equal(4L, await Db.ScalarAsync<long>(
            "select count(*) from public.user_profiles where source_fingerprint is not null", "supabase_admin"));
        Assert.Contains(late, await Db.ScalarAsync<Guid[]>("select array_agg(user_id) from public.user_profiles", "supabase_admin"));
        Assert.Equal(users.Count + 1, (await Truth.ProfilesAsync(Db)).Count);
    }

    [Fact]
    public async Task A_rule_added_makes_profiles_stale()
    {
        var users = await UsersAsync(3);

        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (provider, attributes) values ('email', '{"department":"Sales"}')""");

        await AssertDriftConvergesAsync(stale: 3, users);
    }

    [Fact]
    public async Task Changed_defaults_make_profiles_stale()
    {
        var users = await UsersAsync(2);

        await Db.ExecuteAsync("""update profile_sync.settings set default_attributes = default_attributes || '{"access_level":"standard"}'""");

        await AssertDriftConvergesAsync(stale: 2, users);
    }

    [Fact]
    public async Task A_rule_that_changes_nothing_is_no_drift_but_reconcile_renews_the_fingerprints_without_counting_them()
    {
        var users = await UsersAsync(3);
        var before = await ProfileRowVersionsAsync();

        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (provider, attributes) values ('github', '{"department":"Engineering"}')""");

        Assert.Equal((0L, 0L), await StatusAsync());
        Assert.Equal(3L, await Db.ScalarAsync<long>(
            "select count(*) from profile_sync.profile_state where fingerprint_stale", "supabase_admin"));
        Assert.Equal((0L, 0L), await ReconcileAsync());
        Assert.Equal(0L, await Db.ScalarAsync<long>(
            "select count(*) from profile_sync.profile_state where not fingerprint_current", "supabase_admin"));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        Assert.NotEqual(before, await ProfileRowVersionsAsync());
        Assert.Equal(users.Count, (await Truth.ProfilesAsync(Db)).Count);
    }

    [Fact]
    public async Task A_write_that_changes_no_fact_the_mapping_reads_writes_no_profile()
    {
        var users = await UsersAsync(2);
        var before = await ProfileRowVersionsAsync();
        await Db.SetFallbackTriggerAsync(enabled: true);

        // A sign-in (what only records activity) and a metadata key the display name does not read.
        await Db.UpdateUserAsync(users[0], "last_sign_in_at = now()");
        await Db.UpdateUserAsync(users[1], """raw_user_meta_data = raw_user_meta_data || '{"avatar_url":"https://example.com/a.png"}'""");
        Assert.Equal((0L, 0L), await ReconcileAsync());

        Assert.Equal(before, await ProfileRowVersionsAsync());
    }

    [Fact]
    public async Task A_changed_identity_is_seen_for_a_user_in_a_domain_a_rule_names()
    {
        await Db.ExecuteAsync("update profile_sync.settings set email_verifying_providers = '{google}'");
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (email_domain, attributes) values ('corp.example', '{"department":"Corp"}')""");
        var user = await Db.SignUpAsync(email: "ivy@corp.example");
        var other = await Db.SignUpAsync(email: "ola@example.com");
        await Db.SetFallbackTriggerAsync(enabled: false);

        // Google now vouches for the address: no write to auth.users, nothing in the user's row changed.
        await Db.ExecuteAsync(
            """
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('g-1', $1, jsonb_build_object('sub', 'g-1', 'email', 'ivy@corp.example', 'email_verified', true), 'google', now(), now())
            """,
            "supabase_auth_admin", user);

        await AssertDriftConvergesAsync(stale: 1, [user, other]);
        Assert.Contains("Corp", (await Db.ProfileAsync(user))!.Attributes);
    }

    [Fact]
    public async Task A_recorded_proof_is_seen_for_a_user_in_a_domain_a_rule_names()
    {
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (email_domain, attributes) values ('corp.example', '{"department":"Corp"}')""");
        var user = await Db.SignUpAsync(email: "pia@corp.example");
        await Db.SetFallbackTriggerAsync(enabled: false);

        await Db.ExecuteAsync(
            "insert into profile_sync.email_proofs (user_id, email, proven_by) values ($1, 'pia@corp.example', 'confirmation_token')",
            "supabase_admin", user);

        await AssertDriftConvergesAsync(stale: 1, [user]);
        Assert.Contains("Corp", (await Db.ProfileAsync(user))!.Attributes);
    }

    [Fact]
    public async Task A_ban_that_lapses_with_no_write_makes_the_profile_stale()
    {
        var user = await Db.SignUpAsync(email: "bo@example.com", bannedUntil: DateTime.UtcNow.AddSeconds(2));
        Assert.False((await Db.ProfileAsync(user))!.IsActive);
        await Db.SetFallbackTriggerAsync(enabled: false);

        await Eventually.HoldsAsync(async () => await Db.ScalarAsync<bool>(
            "select banned_until <= now() from auth.users where id = $1", "supabase_admin", user));

        await AssertDriftConvergesAsync(stale: 1, [user]);
        Assert.True((await Db.ProfileAsync(user))!.IsActive);
    }

    [Fact]
    public async Task A_derived_field_edited_by_hand_as_the_service_role_is_stale()
    {
        var users = await UsersAsync(2);

        // E-mail is never owned: the service role can write one the user does not have.
        await Db.AsServiceRoleAsync("update public.user_profiles set email = 'forged@example.com' where user_id = '" + users[0] + "' returning user_id");

        Assert.Null(await Db.ScalarAsync<long?>(
            "select source_fingerprint from public.user_profiles where user_id = $1", "supabase_admin", users[0]));
        await AssertDriftConvergesAsync(stale: 1, users);
    }

    [Fact]
    public async Task Rows_restored_from_before_a_change_are_stale_whichever_table_was_restored()
    {
        var users = await UsersAsync(2);
        await Db.ExecuteAsync(
            "create table public.profiles_backup as select * from public.user_profiles; create table public.users_backup as select * from auth.users",
            "supabase_admin");
        await Db.SetFallbackTriggerAsync(enabled: true);
        await Db.UpdateUserAsync(users[0], """raw_user_meta_data = '{"full_name":"Renamed"}'""");
        await Db.UpdateUserAsync(users[1], "email = 'moved@example.com'");
        await Db.SetFallbackTriggerAsync(enabled: false);

        // The profiles as they were, restored as pg_restore --disable-triggers writes them: rows and fingerprints as dumped.
        await Db.ExecuteAsync(
            """
            begin;
            set local session_replication_role = replica;
            delete from public.user_profiles;
            insert into public.user_profiles select * from public.profiles_backup;
            commit;
            """,
            "supabase_admin");
        await AssertDriftConvergesAsync(stale: 2, users);

        // The users as they were (the profiles now follow the changed ones), restored the same way.
        await Db.ExecuteAsync(
            """
            begin;
            set local session_replication_role = replica;
            update auth.users u set raw_user_meta_data = b.raw_user_meta_data, email = b.email
            from public.users_backup b where b.id = u.id;
            commit;
            """,
            "supabase_admin");
        await AssertDriftConvergesAsync(stale: 2, users);
    }

    /// <summary>Users signed up with the fallback on (profiles and fingerprints written), then the fallback off.</summary>
    private async Task<List<Guid>> UsersAsync(int count)
    {
        var users = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            users.Add(await Db.SignUpAsync(email: $"user{i}@example.com", userMetadata: $$"""{"full_name":"User {{i}}"}"""));
        }

        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        await Db.SetFallbackTriggerAsync(enabled: false);
        return users;
    }

    /// <summary>Status reports the stale profiles (among the users given), reconcile converges them, and then all is in sync.</summary>
    private async Task AssertDriftConvergesAsync(long stale, IReadOnlyCollection<Guid> users)
    {
        Assert.Equal((0L, stale), await StatusAsync());
        var sample = await Db.ScalarAsync<Guid[]>("select stale_sample from profile_sync.status(100)", "postgres");
        Assert.All(sample, id => Assert.Contains(id, users));
        Assert.Equal(stale, await Db.ScalarAsync<long>("select count(*) from profile_sync.drift where kind = 'stale'", "supabase_admin"));

        Assert.Equal((0L, stale), await ReconcileAsync());
        Assert.Equal((0L, 0L), await StatusAsync());
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    private async Task<(long Missing, long Stale)> StatusAsync()
    {
        var missing = await Db.ScalarAsync<long>("select missing from profile_sync.status()", "postgres");
        return (missing, await Db.ScalarAsync<long>("select stale from profile_sync.status()", "postgres"));
    }

    /// <summary>profile_sync.reconcile(): (created, refreshed).</summary>
    private async Task<(long Created, long Refreshed)> ReconcileAsync()
    {
        var counts = await Db.ScalarAsync<long[]>("select array[created, refreshed] from profile_sync.reconcile()", "postgres");
        return (counts[0], counts[1]);
    }

    /// <summary>Each profile's row version (ctid, xmin): changes when anything writes the row.</summary>
    private Task<string> ProfileRowVersionsAsync() =>
        Db.ScalarAsync<string>("select string_agg(ctid::text || xmin::text, ',' order by user_id) from public.user_profiles", "supabase_admin");
}
