using System.Net;
using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// Derived until owned: what a user or an admin sets survives every sync path (the fallback trigger, events, replay,
/// the timer, the SQL reconcile); setting it to null hands it back, and it follows auth.users again.
/// </summary>
public sealed class OwnershipTests(PostgresCluster cluster) : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private ServedApp _served = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await cluster.CreateDatabaseAsync();
        _served = await ServedApp.StartAsync(_db.ConnectionString());
    }

    public async ValueTask DisposeAsync()
    {
        await _served.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task A_users_rename_survives_auth_changes_and_every_path_until_they_hand_it_back()
    {
        var userId = await _db.SignUpAsync(email: "me@example.com", userMetadata: """{"name":"From Auth"}""");

        await _db.AsSignedInUserAsync(userId, "update public.user_profiles set display_name = 'Mine' returning user_id");
        await _db.UpdateUserAsync(userId, "raw_user_meta_data = '{\"name\":\"Changed In Auth\"}', email = 'me2@example.com'");
        await EveryPathAsync(userId);

        var profile = await _db.ProfileAsync(userId);
        Assert.Equal(("Mine", "me2@example.com"), (profile!.DisplayName, profile.Email));
        Assert.Equal(0L, await StaleAsync());

        await _db.AsSignedInUserAsync(userId, "update public.user_profiles set display_name = null returning user_id");
        Assert.Equal("Changed In Auth", (await _db.ProfileAsync(userId))!.DisplayName);
        await _db.UpdateUserAsync(userId, "raw_user_meta_data = '{\"name\":\"Followed Again\"}'");
        Assert.Equal("Followed Again", (await _db.ProfileAsync(userId))!.DisplayName);
    }

    [Fact]
    public async Task An_admins_deactivation_survives_a_lifted_ban_and_every_path_until_handed_back()
    {
        var active = await _db.SignUpAsync(email: "active@example.com");
        var banned = await _db.SignUpAsync(email: "banned@example.com", bannedUntil: DateTime.UtcNow.AddDays(1));

        // The banned user is already inactive: deactivating them is still the admin's choice.
        await _db.ExecuteAsync("update public.user_profiles set is_active = false where user_id = any($1)", "postgres", new[] { active, banned });
        await _db.UpdateUserAsync(banned, "banned_until = null");
        await _db.UpdateUserAsync(active, "banned_until = now() + interval '1 day'");
        await _db.UpdateUserAsync(active, "banned_until = null");
        await EveryPathAsync(active);
        await EveryPathAsync(banned);

        Assert.False((await _db.ProfileAsync(active))!.IsActive);
        Assert.False((await _db.ProfileAsync(banned))!.IsActive);

        // Re-activating hands the flag back: a live ban still applies, as bans do from then on.
        await _db.UpdateUserAsync(banned, "banned_until = now() + interval '1 day'");
        await _db.ExecuteAsync("update public.user_profiles set is_active = true where user_id = $1", "postgres", banned);
        await _db.ExecuteAsync("update public.user_profiles set is_active = null where user_id = $1", "postgres", active);
        Assert.False((await _db.ProfileAsync(banned))!.IsActive);
        Assert.True((await _db.ProfileAsync(active))!.IsActive);
        await _db.UpdateUserAsync(banned, "banned_until = null");
        Assert.True((await _db.ProfileAsync(banned))!.IsActive);
    }

    [Fact]
    public async Task Attributes_set_by_the_service_role_survive_new_defaults_until_handed_back()
    {
        var staff = await _db.SignUpAsync(email: "staff@example.com");
        var plain = await _db.SignUpAsync(email: "plain@example.com");
        await _db.AsApiRoleAsync("service_role", """{"role":"service_role"}""",
            $$"""update public.user_profiles set attributes = '{"role":"manager"}' where user_id = '{{staff}}' returning user_id""");

        await _db.ExecuteAsync("""update profile_sync.settings set default_attributes = '{"role":"member"}'""");
        Assert.Equal(1L, await StaleAsync());
        await EveryPathAsync(staff);
        await EveryPathAsync(plain);

        Assert.Equal("""{"role": "manager"}""", (await _db.ProfileAsync(staff))!.Attributes);
        Assert.Equal("""{"role": "member"}""", (await _db.ProfileAsync(plain))!.Attributes);
        await _db.ExecuteAsync("update public.user_profiles set attributes = null where user_id = $1", "postgres", staff);
        Assert.Equal("""{"role": "member"}""", (await _db.ProfileAsync(staff))!.Attributes);
        Assert.Equal("{}", await OwnedAsync(staff));
    }

    [Fact]
    public async Task A_profile_inserted_by_hand_owns_only_what_differs_from_auth_users()
    {
        var userId = await _db.SignUpAsync(email: "hand@example.com", userMetadata: """{"name":"Hand"}""");
        await _db.ExecuteAsync("delete from public.user_profiles where user_id = $1", "postgres", userId);

        await _db.ExecuteAsync(
            """insert into public.user_profiles (user_id, email, display_name, attributes) values ($1, 'typo@example.com', 'Hand', '{"role":"admin"}')""",
            "postgres",
            userId);
        await EveryPathAsync(userId);

        var profile = await _db.ProfileAsync(userId);
        Assert.Equal(("hand@example.com", "Hand", """{"role": "admin"}"""), (profile!.Email, profile.DisplayName, profile.Attributes));
        Assert.Equal("{attributes}", await OwnedAsync(userId));
    }

    [Fact]
    public async Task An_admin_change_committed_while_a_convergence_waits_for_the_row_is_kept()
    {
        await _db.ExecuteAsync("update profile_sync.settings set fallback_trigger_enabled = false");
        var userId = await _db.SignUpAsync(email: "race@example.com", userMetadata: """{"name":"Old"}""");
        await CliRunner.RunAsync("replay", "--connection", _db.ConnectionString());
        await _db.UpdateUserAsync(userId, "raw_user_meta_data = '{\"name\":\"New\"}', email = 'race2@example.com'");

        await using var admin = await _db.As().OpenConnectionAsync();
        await using var transaction = await admin.BeginTransactionAsync();
        await using (var rename = new NpgsqlCommand("update public.user_profiles set display_name = 'Admin Chose' where user_id = $1", admin, transaction))
        {
            rename.Parameters.Add(new NpgsqlParameter { Value = userId });
            await rename.ExecuteNonQueryAsync();
        }

        var delivery = _served.SendAsync(SupabaseEvents.Update(userId));
        await _db.WaitForLockWaitAsync();
        await transaction.CommitAsync();

        Assert.Equal((HttpStatusCode.OK, "updated"), await delivery);
        var profile = await _db.ProfileAsync(userId);
        Assert.Equal(("Admin Chose", "race2@example.com"), (profile!.DisplayName, profile.Email));
    }

    /// <summary>Every sync path, each at least once: an event, the CLI replay, the timer and the SQL reconcile.</summary>
    private async Task EveryPathAsync(Guid userId)
    {
        Assert.Equal(HttpStatusCode.OK, (await _served.SendAsync(SupabaseEvents.Update(userId, "forged@example.com", metadata: new { name = "Forged" }))).Status);
        Assert.Equal(0, (await CliRunner.RunAsync("replay", "--connection", _db.ConnectionString())).ExitCode);
        await ReconcileTimer.RunAsync(_db.ConnectionString());

        await _db.ExecuteAsync("select * from profile_sync.reconcile()");
    }

    private Task<long> StaleAsync() =>
        _db.ScalarAsync<long>("select count(*) from profile_sync.profile_state where stale_fields <> '{}'");

    private Task<string> OwnedAsync(Guid userId) =>
        _db.ScalarAsync<string>("select owned_fields::text from public.user_profiles where user_id = $1", "postgres", userId);
}
