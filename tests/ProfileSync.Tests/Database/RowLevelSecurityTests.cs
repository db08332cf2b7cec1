using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>RLS as PostgREST applies it: a transaction as <c>authenticated</c>/<c>anon</c> with request.jwt.claims set.</summary>
public sealed class RowLevelSecurityTests(PostgresCluster cluster) : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private Guid _me;
    private Guid _other;

    public async ValueTask InitializeAsync()
    {
        _db = await cluster.CreateDatabaseAsync();
        _me = await _db.SignUpAsync(email: "me@example.com", userMetadata: """{"name":"Me"}""");
        _other = await _db.SignUpAsync(email: "other@example.com", userMetadata: """{"name":"Other"}""");
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Signed_in_user_reads_their_own_profile()
    {
        var ids = await AsUserAsync(_me, "select user_id from public.user_profiles");

        Assert.Equal([_me], ids);
    }

    [Fact]
    public async Task Signed_in_user_cannot_read_another_users_profile()
    {
        var ids = await AsUserAsync(_me, $"select user_id from public.user_profiles where user_id = '{_other}'");

        Assert.Empty(ids);
    }

    [Fact]
    public async Task Signed_in_user_may_change_their_own_display_name()
    {
        await AsUserAsync(_me, $"update public.user_profiles set display_name = 'Renamed' where user_id = '{_me}' returning user_id");

        Assert.Equal("Renamed", (await _db.ProfileAsync(_me))!.DisplayName);
    }

    [Fact]
    public async Task Signed_in_user_cannot_change_another_users_display_name()
    {
        var changed = await AsUserAsync(_me, $"update public.user_profiles set display_name = 'Mine' where user_id = '{_other}' returning user_id");

        Assert.Empty(changed);
        Assert.Equal("Other", (await _db.ProfileAsync(_other))!.DisplayName);
    }

    [Theory]
    [InlineData("""attributes = '{"role":"admin","is_admin":true}'""")]
    [InlineData("is_active = false")]
    [InlineData("user_id = gen_random_uuid()")]
    [InlineData("created_via = 'replay'")]
    public async Task Signed_in_user_cannot_change_anything_but_display_name_of_their_own_profile(string assignment)
    {
        var before = await _db.ProfileAsync(_me);

        var error = await Assert.ThrowsAsync<PostgresException>(
            () => AsUserAsync(_me, $"update public.user_profiles set {assignment} where user_id = '{_me}' returning user_id"));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Equal(before, await _db.ProfileAsync(_me));
    }

    [Theory]
    [InlineData("insert into public.user_profiles (user_id) values (gen_random_uuid()) returning user_id")]
    [InlineData("delete from public.user_profiles returning user_id")]
    public async Task Signed_in_user_cannot_create_or_delete_profiles(string sql)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => AsUserAsync(_me, sql));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Equal(2L, await _db.ScalarAsync<long>("select count(*) from public.user_profiles"));
    }

    [Fact]
    public async Task Anon_reads_nothing()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(
            () => AsRoleAsync("anon", """{"role":"anon"}""", "select user_id from public.user_profiles"));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
    }

    [Fact]
    public async Task Api_roles_cannot_read_or_change_the_settings()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(
            () => AsUserAsync(_me, "update profile_sync.settings set default_attributes = '{}' returning 1"));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
    }

    [Fact]
    public async Task Service_role_changes_attributes_and_other_users_rows()
    {
        var changed = await AsRoleAsync(
            "service_role",
            """{"role":"service_role"}""",
            $$"""update public.user_profiles set attributes = '{"role":"admin"}', is_active = false where user_id = '{{_other}}' returning user_id""");

        Assert.Equal([_other], changed);
        Assert.Equal("""{"role": "admin"}""", (await _db.ProfileAsync(_other))!.Attributes);
    }

    private Task<List<Guid>> AsUserAsync(Guid userId, string sql) => _db.AsSignedInUserAsync(userId, sql);

    private Task<List<Guid>> AsRoleAsync(string role, string claims, string sql) => _db.AsApiRoleAsync(role, claims, sql);
}
