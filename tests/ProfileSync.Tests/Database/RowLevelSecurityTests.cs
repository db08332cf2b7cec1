using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>RLS as PostgREST applies it: a transaction as <c>authenticated</c>/<c>anon</c> with request.jwt.claims set.</summary>
public sealed class RowLevelSecurityTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private Guid _me;
    private Guid _other;

    protected override async Task PrepareAsync()
    {
        _me = await Db.SignUpAsync(email: "me@example.com", userMetadata: """{"name":"Me"}""");
        _other = await Db.SignUpAsync(email: "other@example.com", userMetadata: """{"name":"Other"}""");
    }

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

        Assert.Equal("Renamed", (await Db.ProfileAsync(_me))!.DisplayName);
    }

    [Fact]
    public async Task Signed_in_user_cannot_change_another_users_display_name()
    {
        var changed = await AsUserAsync(_me, $"update public.user_profiles set display_name = 'Mine' where user_id = '{_other}' returning user_id");

        Assert.Empty(changed);
        Assert.Equal("Other", (await Db.ProfileAsync(_other))!.DisplayName);
    }

    [Theory]
    [InlineData("repeat('x', 16 * 1024 * 1024)")]
    [InlineData("repeat('x', 201)")]
    [InlineData("E'Bob\\u202Egnp.exe'")] // right-to-left override
    [InlineData("E'Bo\\u200Bb'")] // zero-width space
    [InlineData("E'Bob\\nAdmin'")]
    [InlineData("E'Bob\\u0007'")]
    [InlineData("' Bob'")]
    [InlineData("''")]
    [InlineData("E'Bob\\u061CSmith'")] // Arabic letter mark
    [InlineData("E'Bob\\u2028Smith'")] // line separator
    [InlineData("E'Bob\\u2029Smith'")] // paragraph separator
    [InlineData("E'Bo\\u00ADb'")] // soft hyphen
    [InlineData("E'Bo\\u180Eb'")] // Mongolian vowel separator
    [InlineData("E'Bo\\u034Fb'")] // combining grapheme joiner
    [InlineData("E'Bob\\uFFF9\\uFFFA\\uFFFB'")] // interlinear annotation
    [InlineData("E'Bob\\U000E0069\\U000E0067\\U000E006E\\U000E006F\\U000E0072\\U000E0065'")] // tag characters ("ignore")
    [InlineData("E'\\u00A0\\u00A0'")] // no-break spaces only
    [InlineData("E'\\u3000'")] // an ideographic space only
    [InlineData("E'\\u3164'")] // a Hangul filler only
    [InlineData("E'\\u00A0Bob'")] // a no-break space at the start
    [InlineData("E'Bob\\u00A0'")] // and at the end
    [InlineData("E'Bob\\u200DSmith'")] // a joiner between letters
    [InlineData("E'\\uE000Bob'")] // private use
    public async Task Signed_in_user_cannot_set_a_display_name_that_is_huge_blank_or_hides_characters(string value)
    {
        var before = await Db.ProfileAsync(_me);

        var error = await Assert.ThrowsAsync<PostgresException>(
            () => AsUserAsync(_me, $"update public.user_profiles set display_name = {value} where user_id = '{_me}' returning user_id"));

        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("user_profiles_display_name_check", error.ConstraintName);
        Assert.Equal("display_name must be 1 to 200 characters, with no space at either end, no space but U+0020 and no invisible character (control, format, private-use, line or paragraph separator; a zero-width joiner only between two emoji)", error.MessageText);
        Assert.Equal(before, await Db.ProfileAsync(_me));
    }

    [Theory]
    [InlineData("José Ñúñez")]
    [InlineData("李小龍")]
    [InlineData("Ana 🙂")]
    [InlineData("Ana 🏳️‍🌈")]
    [InlineData("👨‍👩‍👧")]
    public async Task Signed_in_user_may_set_a_display_name_in_any_script(string value)
    {
        await AsUserAsync(_me, $"update public.user_profiles set display_name = '{value}' where user_id = '{_me}' returning user_id");

        Assert.Equal(value, (await Db.ProfileAsync(_me))!.DisplayName);
    }

    [Theory]
    [InlineData("repeat('x', 201)")]
    [InlineData("''")] // names that clean to nothing: the rule's null, which the constraint refuses too
    [InlineData("'   '")]
    [InlineData("E'\\u202E'")]
    [InlineData("repeat(' ', 1000) || repeat('x', 1048576)")]
    public async Task The_rule_holds_for_every_writer_even_with_the_ownership_triggers_off(string value)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => Db.ExecuteAsync(
            $"alter table public.user_profiles disable trigger user; update public.user_profiles set display_name = {value}", "supabase_admin"));

        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("user_profiles_display_name_check", error.ConstraintName);
    }

    [Theory]
    [InlineData("""attributes = '{"role":"admin","is_admin":true}'""")]
    [InlineData("is_active = false")]
    [InlineData("user_id = gen_random_uuid()")]
    [InlineData("created_via = 'replay'")]
    public async Task Signed_in_user_cannot_change_anything_but_display_name_of_their_own_profile(string assignment)
    {
        var before = await Db.ProfileAsync(_me);

        var error = await Assert.ThrowsAsync<PostgresException>(
            () => AsUserAsync(_me, $"update public.user_profiles set {assignment} where user_id = '{_me}' returning user_id"));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Equal(before, await Db.ProfileAsync(_me));
    }

    [Theory]
    [InlineData("insert into public.user_profiles (user_id) values (gen_random_uuid()) returning user_id")]
    [InlineData("delete from public.user_profiles returning user_id")]
    public async Task Signed_in_user_cannot_create_or_delete_profiles(string sql)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => AsUserAsync(_me, sql));

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Equal(2L, await Db.ScalarAsync<long>("select count(*) from public.user_profiles"));
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
        Assert.Equal("""{"role": "admin"}""", (await Db.ProfileAsync(_other))!.Attributes);
    }

    private Task<List<Guid>> AsUserAsync(Guid userId, string sql) => Db.AsSignedInUserAsync(userId, sql);

    private Task<List<Guid>> AsRoleAsync(string role, string claims, string sql) => Db.AsApiRoleAsync(role, claims, sql);
}
