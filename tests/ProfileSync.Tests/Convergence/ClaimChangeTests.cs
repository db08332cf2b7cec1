using System.Text.Json.Nodes;
using ProfileSync.Tests.Support;
using static ProfileSync.Tests.Support.SupabaseAuthFlows;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// A change of a user's claimed values counts before the access token expires: <c>profile_sync.token_is_current()</c>
/// in a policy of a table of the test's own, read as the Data API reads it (a token whose claims the profile no longer
/// gives opens nothing at the next request), and <c>settings.end_sessions_on_claim_change</c> (the next refresh fails).
/// </summary>
public sealed class ClaimChangeTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    protected override Task PrepareAsync() => Db.ExecuteAsync(
        """
        create table public.team_notes (id uuid primary key default gen_random_uuid());
        alter table public.team_notes enable row level security;
        grant select on public.team_notes to authenticated;
        create policy team_notes_current_tokens on public.team_notes for select to authenticated
          using ((select profile_sync.token_is_current()));
        insert into public.team_notes default values;
        insert into public.team_notes default values;
        """);

    [Fact]
    public async Task A_token_issued_before_a_change_of_its_claims_opens_nothing_after_it_and_a_token_issued_after_does()
    {
        var userId = await Db.SignUpWithEmailAsync($"t-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var before = await Db.TokenClaimsAsync(userId);
        Assert.Equal(2, (await NotesSeenWithAsync(before)).Count);

        // An admin makes the user a manager: the role in the old token is not the role now.
        await SetRoleAsync(userId, "manager");
        Assert.Empty(await NotesSeenWithAsync(before));
        var after = await Db.TokenClaimsAsync(userId);
        Assert.Equal("manager", (string?)after!["user_role"]);
        Assert.Equal(2, (await NotesSeenWithAsync(after)).Count);

        // A change no claim carries leaves the token current.
        await Db.AsServiceRoleAsync($"update public.user_profiles set display_name = 'Someone Else' where user_id = '{userId}' returning user_id");
        Assert.Equal(2, (await NotesSeenWithAsync(after)).Count);
    }

    [Fact]
    public async Task A_token_without_the_hooks_claims_or_of_a_banned_or_deleted_user_is_not_current()
    {
        var userId = await Db.SignUpWithEmailAsync($"t-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var plain = new JsonObject { ["sub"] = userId.ToString(), ["role"] = "authenticated", ["aal"] = "aal1" };
        Assert.Empty(await NotesSeenWithAsync(plain));
        Assert.Empty(await NotesSeenWithAsync(new JsonObject { ["role"] = "authenticated" }));

        await Db.UpdateUserAsync(userId, "banned_until = $2", DateTime.UtcNow.AddHours(1));
        var banned = await Db.TokenClaimsAsync(userId);
        Assert.False((bool)banned!["user_is_active"]!);
        Assert.Empty(await NotesSeenWithAsync(banned));

        await Db.UpdateUserAsync(userId, "banned_until = $2", (DateTime?)null);
        var current = await Db.TokenClaimsAsync(userId);
        Assert.Equal(2, (await NotesSeenWithAsync(current)).Count);
        await Db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", userId);
        Assert.Empty(await NotesSeenWithAsync(current));
    }

    [Fact]
    public async Task Signed_in_users_can_call_token_is_current_and_only_what_runs_as_whoever_writes()
    {
        var callable = await Db.ScalarAsync<string[]>(
            """
            select coalesce(array_agg(p.proname::text order by p.proname), '{}') from pg_proc p
            where p.pronamespace = 'profile_sync'::regnamespace and has_function_privilege('authenticated', p.oid, 'execute')
            """);

        // Besides the check, what runs as whoever writes: the triggers' WHEN on auth.users (note_write_needs_event, which
        // marks the caller's own transaction only) and the display name's check constraint (plain_display_name).
        Assert.Equal(["note_write_needs_event", "plain_display_name", "token_is_current"], callable);
        Assert.False(await Db.ScalarAsync<bool>(
            "select has_table_privilege('authenticated', c.oid, 'select') from pg_class c where c.relname = 'settings' and c.relnamespace = 'profile_sync'::regnamespace"));
    }

    [Fact]
    public async Task Sessions_are_kept_as_shipped_and_with_the_setting_on_a_claim_change_ends_that_users_sessions_only()
    {
        var userId = await Db.SignUpWithEmailAsync($"t-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var bystander = await Db.SignUpWithEmailAsync($"t-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        await SignInAsync(userId);
        await SignInAsync(bystander);
        var sessions = await SessionsAsync(userId);
        var bystanders = await SessionsAsync(bystander);
        Assert.True(sessions > 0 && bystanders > 0);

        await SetRoleAsync(userId, "manager");
        Assert.Equal(sessions, await SessionsAsync(userId)); // off as shipped

        await Db.ExecuteAsync("update profile_sync.settings set end_sessions_on_claim_change = true");
        await Db.AsServiceRoleAsync($"update public.user_profiles set display_name = 'Renamed' where user_id = '{userId}' returning user_id");
        Assert.Equal(sessions, await SessionsAsync(userId)); // no claim carries the display name

        await SetRoleAsync(userId, "user");
        Assert.Equal(0L, await SessionsAsync(userId));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from auth.refresh_tokens where user_id = $1", "postgres", userId.ToString()));
        Assert.Equal(bystanders, await SessionsAsync(bystander));

        // A ban converges into is_active (a claim) through the fallback, inside the auth server's transaction.
        await SignInAsync(userId);
        await Db.UpdateUserAsync(userId, "banned_until = $2", DateTime.UtcNow.AddHours(1));
        Assert.Equal(0L, await SessionsAsync(userId));
        Assert.Equal(bystanders, await SessionsAsync(bystander));
    }

    private Task SignInAsync(Guid userId) => Db.ExecuteAsync(
        """
        with s as (insert into auth.sessions (id, user_id, created_at, updated_at, aal) values (gen_random_uuid(), $1, now(), now(), 'aal1') returning id)
        insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, session_id)
        select '00000000-0000-0000-0000-000000000000', gen_random_uuid()::text, $1::text, false, now(), now(), s.id from s
        """,
        "supabase_auth_admin", userId);

    private Task<long> SessionsAsync(Guid userId) =>
        Db.ScalarAsync<long>("select count(*) from auth.sessions where user_id = $1", "postgres", userId);

    private Task<List<Guid>> SetRoleAsync(Guid userId, string role) =>
        Db.AsServiceRoleAsync($$"""update public.user_profiles set attributes = attributes || '{"role":"{{role}}"}' where user_id = '{{userId}}' returning user_id""");

    private Task<List<Guid>> NotesSeenWithAsync(JsonNode? claims) =>
        Db.AsApiRoleAsync("authenticated", claims!.ToJsonString(), "select id from public.team_notes");
}
