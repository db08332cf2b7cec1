using System.Net;
using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// Derived until owned: what a user or an admin sets survives every sync path (the fallback trigger, events, replay,
/// the timer, the SQL reconcile); setting it to null hands it back, and it follows auth.users again.
/// </summary>
public sealed class OwnershipTests(PostgresCluster cluster) : ServedDatabaseTest(cluster)
{

    [Fact]
    public async Task A_users_rename_survives_auth_changes_and_every_path_until_they_hand_it_back()
    {
        var userId = await Db.SignUpAsync(email: "me@example.com", userMetadata: """{"name":"From Auth"}""");

        await Db.AsSignedInUserAsync(userId, "update public.user_profiles set display_name = 'Mine' returning user_id");
        await Db.UpdateUserAsync(userId, "raw_user_meta_data = '{\"name\":\"Changed In Auth\"}', email = 'me2@example.com'");
        await EveryPathAsync(userId);

        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("Mine", "me2@example.com"), (profile!.DisplayName, profile.Email));
        Assert.Equal(0L, await StaleAsync());

        await Db.AsSignedInUserAsync(userId, "update public.user_profiles set display_name = null returning user_id");
        Assert.Equal("Changed In Auth", (await Db.ProfileAsync(userId))!.DisplayName);
        await Db.UpdateUserAsync(userId, "raw_user_meta_data = '{\"name\":\"Followed Again\"}'");
        Assert.Equal("Followed Again", (await Db.ProfileAsync(userId))!.DisplayName);
    }

    [Fact]
    public async Task An_admins_deactivation_survives_a_lifted_ban_and_every_path_until_handed_back()
    {
        var active = await Db.SignUpAsync(email: "active@example.com");
        var banned = await Db.SignUpAsync(email: "banned@example.com", bannedUntil: DateTime.UtcNow.AddDays(1));

        // The banned user is already inactive: deactivating them is still the admin's choice.
        await Db.ExecuteAsync("update public.user_profiles set is_active = false where user_id = any($1)", "postgres", new[] { active, banned });
        await Db.UpdateUserAsync(banned, "banned_until = null");
        await Db.UpdateUserAsync(active, "banned_until = now() + interval '1 day'");
        await Db.UpdateUserAsync(active, "banned_until = null");
        await EveryPathAsync(active);
        await EveryPathAsync(banned);

        Assert.False((await Db.ProfileAsync(active))!.IsActive);
        Assert.False((await Db.ProfileAsync(banned))!.IsActive);

        // Re-activating hands the flag back: a live ban still applies, as bans do from then on.
        await Db.UpdateUserAsync(banned, "banned_until = now() + interval '1 day'");
        await Db.ExecuteAsync("update public.user_profiles set is_active = true where user_id = $1", "postgres", banned);
        await Db.ExecuteAsync("update public.user_profiles set is_active = null where user_id = $1", "postgres", active);
        Assert.False((await Db.ProfileAsync(banned))!.IsActive);
        Assert.True((await Db.ProfileAsync(active))!.IsActive);
        await Db.UpdateUserAsync(banned, "banned_until = null");
        Assert.True((await Db.ProfileAsync(banned))!.IsActive);
    }

    [Fact]
    public async Task Attributes_set_by_the_service_role_survive_new_defaults_until_handed_back()
    {
        var staff = await Db.SignUpAsync(email: "staff@example.com");
        var plain = await Db.SignUpAsync(email: "plain@example.com");
        await Db.AsServiceRoleAsync($$"""update public.user_profiles set attributes = '{"role":"manager"}' where user_id = '{{staff}}' returning user_id""");

        await Db.ExecuteAsync("""update profile_sync.settings set default_attributes = '{"role":"member"}'""");
        Assert.Equal(1L, await StaleAsync());
        await EveryPathAsync(staff);
        await EveryPathAsync(plain);

        Assert.Equal("""{"role": "manager"}""", (await Db.ProfileAsync(staff))!.Attributes);
        Assert.Equal("""{"role": "member"}""", (await Db.ProfileAsync(plain))!.Attributes);
        await Db.ExecuteAsync("update public.user_profiles set attributes = null where user_id = $1", "postgres", staff);
        Assert.Equal("""{"role": "member"}""", (await Db.ProfileAsync(staff))!.Attributes);
        Assert.Equal("{}", await OwnedAsync(staff));
    }

    [Fact]
    public async Task A_profile_inserted_by_hand_owns_only_what_differs_from_auth_users()
    {
        var userId = await Db.SignUpAsync(email: "hand@example.com", userMetadata: """{"name":"Hand"}""");
        await Db.ExecuteAsync("delete from public.user_profiles where user_id = $1", "postgres", userId);

        await Db.ExecuteAsync(
            """insert into public.user_profiles (user_id, email, display_name, attributes) values ($1, 'typo@example.com', 'Hand', '{"role":"admin"}')""",
            "postgres",
            userId);
        await EveryPathAsync(userId);

        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("hand@example.com", "Hand", """{"role": "admin"}"""), (profile!.Email, profile.DisplayName, profile.Attributes));
        Assert.Equal("{attributes}", await OwnedAsync(userId));
    }

    [Fact]
    public async Task An_admin_change_committed_while_a_convergence_waits_for_the_row_is_kept()
    {
        await Db.SetFallbackTriggerAsync(enabled: false);
        var userId = await Db.SignUpAsync(email: "race@example.com", userMetadata: """{"name":"Old"}""");
        await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString());
        await Db.UpdateUserAsync(userId, "raw_user_meta_data = '{\"name\":\"New\"}', email = 'race2@example.com'");

        await using var admin = await Db.As().OpenConnectionAsync();
        await using var transaction = await admin.BeginTransactionAsync();
        await using (var rename = new NpgsqlCommand("update public.user_profiles set display_name = 'Admin Chose' where user_id = $1", admin, transaction))
        {
            rename.Parameters.Add(new NpgsqlParameter { Value = userId });
            await rename.ExecuteNonQueryAsync();
        }

        var delivery = Served.SendAsync(SupabaseEvents.Update(userId));
        await Db.WaitForLockWaitAsync();
        await transaction.CommitAsync();

        Assert.Equal((HttpStatusCode.OK, "updated"), await delivery);
        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("Admin Chose", "race2@example.com"), (profile!.DisplayName, profile.Email));
    }

    /// <summary>Every sync path, each at least once: an event, the CLI replay, the timer and the SQL reconcile.</summary>
    private async Task EveryPathAsync(Guid userId)
    {
        Assert.Equal(HttpStatusCode.OK, (await Served.SendAsync(SupabaseEvents.Update(userId, "forged@example.com", metadata: new { name = "Forged" }))).Status);
        Assert.Equal(0, (await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString())).ExitCode);
        await ReconcileTimer.RunAsync(Db.ConnectionString());

        await Db.ExecuteAsync("select * from profile_sync.reconcile()");
    }

    private Task<long> StaleAsync() =>
        Db.ScalarAsync<long>("select count(*) from profile_sync.profile_state where stale_fields <> '{}'");

    private Task<string> OwnedAsync(Guid userId) =>
        Db.ScalarAsync<string>("select owned_fields::text from public.user_profiles where user_id = $1", "postgres", userId);
}
