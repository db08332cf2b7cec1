using System.Text.Json.Nodes;
using Npgsql;
using ProfileSync.Tests.Support;
using static ProfileSync.Tests.Support.SupabaseAuthFlows;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// <c>profile_sync.custom_access_token_hook</c>, called as supabase_auth_admin the way Supabase Auth calls a Postgres
/// hook (internal/hooks/hookspgfunc.go: <c>select profile_sync.custom_access_token_hook($1)</c> inside its own
/// transaction), with the event bodies it sends.
/// </summary>
public sealed class TokenHookTests(PostgresCluster cluster) : DatabaseTest(cluster)
{
    private static readonly string[] RequiredClaims = ["iss", "aud", "exp", "iat", "sub", "role", "aal", "session_id", "email", "phone", "is_anonymous"];

    [Theory]
    [InlineData("password")]
    [InlineData("token_refresh")]
    [InlineData("oauth")]
    [InlineData("sso/saml")]
    [InlineData("anonymous")]
    [InlineData("email/signup")]
    [InlineData("magiclink")]
    [InlineData("otp")]
    public async Task Every_token_carries_the_profiles_role_and_chosen_attributes_and_keeps_every_claim_it_was_given(string method)
    {
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (provider, attributes) values ('email', '{"department":"Customers","access_level":"member"}')""");
        var userId = await Db.SignUpWithEmailAsync($"t-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var given = Claims(userId, "user@example.com");

        var result = await HookAsync(userId, given, method);

        var claims = result["claims"]!.AsObject();
        foreach (var name in RequiredClaims)
        {
            Assert.True(JsonNode.DeepEquals(given[name], claims[name]), name);
        }

        var attributes = JsonNode.Parse((await Db.ProfileAsync(userId))!.Attributes)!;
        Assert.Equal("user", (string?)claims["user_role"]);
        Assert.Equal((string?)attributes["department"], (string?)claims["user_department"]);
        Assert.Equal("Customers", (string?)claims["user_department"]);
        Assert.Equal("member", (string?)claims["user_access_level"]);
        Assert.False((bool)claims["user_is_admin"]!);
        Assert.True((bool)claims["user_is_active"]!);
        Assert.Null(claims["user_attributes"]);
    }

    [Theory]
    [InlineData("anonymous")]
    [InlineData("oauth")]
    [InlineData("sso/saml")]
    public async Task The_first_token_issued_inside_the_sign_up_transaction_carries_what_the_profile_will_be(string method)
    {
        var owner = await Db.AddSsoProviderAsync("corp.example");
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (email_domain, attributes) values ('corp.example', '{"department":"Corp"}')""");
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (provider, attributes) values ('google', '{"access_level":"oauth"}')""");
        await Db.ExecuteAsync("update profile_sync.settings set email_verifying_providers = '{google}'");
        var userId = Guid.NewGuid();
        var email = $"new-{Guid.NewGuid():N}@corp.example";
        var signUp = method switch
        {
            "anonymous" => AnonymousSignInSql(userId),
            "oauth" => OAuthSignUpSql(userId, "google", email, providerVerified: true, autoconfirm: false),
            _ => SamlSignUpSql(userId, owner, email),
        };

        // The fallback converges at the commit, after the token.
        var claims = await InAuthTransactionAsync(signUp, async transaction =>
        {
            Assert.Equal(0L, await Db.ProfileCountAsync(userId)); // not committed: no profile anyone could read
            return (await HookAsync(userId, Claims(userId, method == "anonymous" ? "" : email), method, transaction))["claims"]!;
        });

        var attributes = JsonNode.Parse((await Db.ProfileAsync(userId))!.Attributes)!;
        Assert.Equal((string?)attributes["role"], (string?)claims["user_role"]);
        Assert.Equal((string?)attributes["department"], (string?)claims["user_department"]);
        Assert.Equal((string?)attributes["access_level"], (string?)claims["user_access_level"]);
        Assert.Equal(method == "anonymous" ? "General" : "Corp", (string?)claims["user_department"]);
        Assert.Equal(method == "oauth" ? "oauth" : "basic", (string?)claims["user_access_level"]);
    }

    [Fact]
    public async Task A_sign_in_that_links_an_identity_issues_its_token_with_what_the_profile_will_be()
    {
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (provider, attributes) values ('google', '{"access_level":"oauth"}')""");
        var email = $"l-{Guid.NewGuid():N}@example.com";
        var userId = await Db.SignUpWithEmailAsync(email, Confirmation.Verified);
        Assert.Equal("basic", await ClaimAsync(userId, "user_access_level"));

        var claims = await InAuthTransactionAsync(LinkIdentitySql(userId, "google", email, "Linked Name"),
            async transaction => (await HookAsync(userId, Claims(userId, email), "oauth", transaction))["claims"]!);

        Assert.Equal("oauth", (string?)claims["user_access_level"]);
        Assert.Equal("oauth", (string?)JsonNode.Parse((await Db.ProfileAsync(userId))!.Attributes)!["access_level"]);
    }

    [Fact]
    public async Task A_refresh_carries_the_profile_as_it_is()
    {
        var userId = await Db.SignUpWithEmailAsync($"r-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        // A rule added since the profile was made: the profile follows it at its next convergence (replay, reconcile).
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (provider, attributes) values ('email', '{"department":"Customers"}')""");

        // As the auth server refreshes a token: the refresh token's last_sign_in_at, then the hook.
        Task<string?> RefreshAsync() => InAuthTransactionAsync(
            $"update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{userId}'",
            async transaction => (string?)(await HookAsync(userId, Claims(userId, "x"), "token_refresh", transaction))["claims"]!["user_department"]);

        Assert.Equal("General", await RefreshAsync());
        await Db.ExecuteAsync("select profile_sync.converge(array[$1]::uuid[], 'replay')", "postgres", userId);
        Assert.Equal("Customers", await RefreshAsync());
    }

    [Fact]
    public async Task A_transaction_that_changes_several_users_gives_each_token_what_its_profile_will_be()
    {
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (app_metadata, attributes) values ('{"plan":"pro"}', '{"department":"Pro"}')""");
        var first = await Db.SignUpWithEmailAsync($"a-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var second = await Db.SignUpWithEmailAsync($"b-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var unchanged = await Db.SignUpWithEmailAsync($"c-{Guid.NewGuid():N}@example.com", Confirmation.Verified);

        var departments = await InAuthTransactionAsync(
            $$"""update auth.users set raw_app_meta_data = raw_app_meta_data || '{"plan":"pro"}' where id in ('{{first}}', '{{second}}')""",
            async transaction =>
            {
                var found = new List<string?>();
                foreach (var user in new[] { first, second, unchanged })
                {
                    found.Add((string?)(await HookAsync(user, Claims(user, "x"), "token_refresh", transaction))["claims"]!["user_department"]);
                }

                return found;
            });

        Assert.Equal(["Pro", "Pro", "General"], departments);
    }

    [Fact]
    public async Task A_role_that_may_update_auth_users_needs_nothing_of_profile_sync_to_do_so()
    {
        // The change is noted by a function in the trigger's WHEN, which PostgreSQL runs with the updater's rights.
        var role = $"updater_{Guid.NewGuid():N}";
        await Db.ExecuteAsync($"create role {role} bypassrls; grant usage on schema auth to {role}; grant select, update on auth.users to {role}", "supabase_admin");
        var userId = await Db.SignUpWithEmailAsync($"u-{Guid.NewGuid():N}@example.com", Confirmation.Verified);

        await Db.ExecuteAsync($$"""
            set role {{role}};
            update auth.users set raw_app_meta_data = raw_app_meta_data || '{"plan":"pro"}' where id = '{{userId}}';
            reset role;
            drop owned by {{role}}; drop role {{role}};
            """, "supabase_admin");

        Assert.Equal(1L, await Db.ScalarAsync<long>("""select count(*) from auth.users where id = $1 and raw_app_meta_data ->> 'plan' = 'pro'""", "postgres", userId));
    }

    [Fact]
    public async Task Rules_ownership_and_a_hand_back_each_show_in_the_next_token()
    {
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (position, email_domain, attributes) values (1, 'corp.example', '{"department":"Corp"}')""");
        var proven = await Db.SignUpWithEmailAsync($"p-{Guid.NewGuid():N}@corp.example", Confirmation.Verified);
        var unproven = await Db.SignUpWithEmailAsync($"u-{Guid.NewGuid():N}@corp.example", Confirmation.Autoconfirm);
        Assert.Equal("Corp", await ClaimAsync(proven, "user_department"));
        Assert.Equal("General", await ClaimAsync(unproven, "user_department"));

        await Db.AsServiceRoleAsync($$"""update public.user_profiles set attributes = '{"role":"admin","department":"Board"}' where user_id = '{{proven}}' returning user_id""");
        Assert.Equal(("admin", "Board"), (await ClaimAsync(proven, "user_role"), await ClaimAsync(proven, "user_department")));

        await Db.ExecuteAsync("update public.user_profiles set attributes = null where user_id = $1", "postgres", proven);
        Assert.Equal(("user", "Corp"), (await ClaimAsync(proven, "user_role"), await ClaimAsync(proven, "user_department")));

        await Db.ExecuteAsync("update profile_sync.settings set token_claim_keys = '{role}'");
        var claims = (await HookAsync(proven, Claims(proven, "x"), "token_refresh"))["claims"]!;
        Assert.Equal("user", (string?)claims["user_role"]);
        Assert.Null(claims["user_department"]);
    }

    [Fact]
    public async Task An_admins_deactivation_refuses_tokens_only_when_the_setting_says_so_and_bans_are_left_to_the_auth_server()
    {
        var deactivated = await Db.SignUpWithEmailAsync($"d-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        await Db.ExecuteAsync("update public.user_profiles set is_active = false where user_id = $1", "postgres", deactivated);
        var banned = await Db.SignUpWithEmailAsync($"b-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        await Db.UpdateUserAsync(banned, "banned_until = now() + interval '1 day'");

        Assert.False(bool.Parse(await ClaimAsync(deactivated, "user_is_active")));

        await Db.ExecuteAsync("update profile_sync.settings set refuse_tokens_when_deactivated = true");
        var refused = await HookAsync(deactivated, Claims(deactivated, "d"), "token_refresh");
        Assert.Equal(403, (int)refused["error"]!["http_code"]!);
        Assert.Equal("This account has been deactivated. Contact an administrator.", (string?)refused["error"]!["message"]);
        Assert.Null(refused["claims"]);
        // A ban is the auth server's to enforce: its token (if the server issued one) is not refused here.
        Assert.False(bool.Parse(await ClaimAsync(banned, "user_is_active")));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("""{"claims":{}}""")]
    [InlineData("""{"user_id":42,"claims":{}}""")]
    [InlineData("""{"user_id":"nope","claims":{}}""")]
    [InlineData("""{"user_id":"6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f","claims":"all"}""")]
    [InlineData("""{"user_id":"6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f","claims":null}""")]
    public async Task A_malformed_event_gets_an_error_object_never_an_exception(string body)
    {
        await using var connection = await Db.As("supabase_auth_admin").OpenConnectionAsync();
        await using var call = new NpgsqlCommand("select profile_sync.custom_access_token_hook($1::jsonb)::text", connection);
        call.Parameters.Add(new NpgsqlParameter { Value = body });

        var result = JsonNode.Parse((string)(await call.ExecuteScalarAsync())!)!;

        Assert.Equal(400, (int)result["error"]!["http_code"]!);
        Assert.StartsWith("custom access token hook: ", (string?)result["error"]!["message"], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("user_metadata")] // the user writes it (Auth takes request bodies of up to 1 MB)
    [InlineData("app_metadata")] // an admin or the backend writes it
    public async Task A_token_for_a_user_with_70_KB_of_metadata_gets_its_claims(string metadata)
    {
        var userId = await Db.SignUpWithEmailAsync($"big-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var given = Claims(userId, "big@example.com");
        given[metadata] = new JsonObject { ["bio"] = new string('x', 70_000), ["provider"] = "email" };

        var result = await HookAsync(userId, given, "token_refresh");

        Assert.Null(result["error"]);
        Assert.Equal("user", (string?)result["claims"]!["user_role"]);
        Assert.True(JsonNode.DeepEquals(given[metadata], result["claims"]![metadata]));
    }

    [Fact]
    public async Task A_user_that_does_not_exist_keeps_the_claims_as_they_came()
    {
        var id = Guid.NewGuid();
        var given = Claims(id, "ghost@example.com");

        var result = await HookAsync(id, given, "password");

        Assert.True(JsonNode.DeepEquals(given, result["claims"]));
    }

    [Theory]
    [InlineData("anon")]
    [InlineData("authenticated")]
    [InlineData("service_role")]
    public async Task Only_the_auth_server_may_call_it(string role)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => Db.AsApiRoleAsync(role, $$"""{"role":"{{role}}"}""",
            "select null::uuid from profile_sync.custom_access_token_hook('{}')"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
    }

    [Fact]
    public async Task A_row_level_security_policy_reads_the_role_from_the_token()
    {
        await Db.ExecuteAsync(
            """
            create policy user_profiles_admins_read_all on public.user_profiles for select to authenticated
              using ((select auth.jwt() ->> 'user_role') = 'admin')
            """);
        var admin = await Db.SignUpWithEmailAsync($"admin-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        var member = await Db.SignUpWithEmailAsync($"member-{Guid.NewGuid():N}@example.com", Confirmation.Verified);
        await Db.ExecuteAsync("""update public.user_profiles set attributes = '{"role":"admin"}' where user_id = $1""", "postgres", admin);

        async Task<List<Guid>> ReadAllAsync(Guid userId)
        {
            var claims = (await HookAsync(userId, Claims(userId, "x"), "password"))["claims"]!;
            return await Db.AsApiRoleAsync("authenticated", claims.ToJsonString(), "select user_id from public.user_profiles order by user_id");
        }

        Assert.Equal(new[] { admin, member }.Order(), await ReadAllAsync(admin));
        Assert.Equal([member], await ReadAllAsync(member));
    }

    private async Task<string> ClaimAsync(Guid userId, string claim)
    {
        var value = (await HookAsync(userId, Claims(userId, "x"), "token_refresh"))["claims"]![claim];
        return value is JsonValue v && v.TryGetValue<string>(out var text) ? text : value!.ToJsonString();
    }

    /// <summary>The claims Supabase Auth builds before it calls the hook (internal/tokens/service.go).</summary>
    private static JsonObject Claims(Guid userId, string email) => new()
    {
        ["iss"] = "http://127.0.0.1:54321/auth/v1",
        ["aud"] = "authenticated",
        ["exp"] = 1_900_000_000,
        ["iat"] = 1_899_996_400,
        ["sub"] = userId.ToString(),
        ["role"] = "authenticated",
        ["aal"] = "aal1",
        ["amr"] = new JsonArray(new JsonObject { ["method"] = "password", ["timestamp"] = 1_899_996_400 }),
        ["session_id"] = Guid.NewGuid().ToString(),
        ["email"] = email,
        ["phone"] = "",
        ["is_anonymous"] = false,
        ["app_metadata"] = new JsonObject { ["provider"] = "email" },
        ["user_metadata"] = new JsonObject(),
    };

    /// <summary>
    /// As the auth server issues a token in its own transaction: <paramref name="statements"/>, then
    /// <paramref name="tokens"/> (the hook's calls) in the same transaction, then the commit.
    /// </summary>
    private async Task<T> InAuthTransactionAsync<T>(string statements, Func<NpgsqlTransaction, Task<T>> tokens)
    {
        await using var connection = await Db.As("supabase_auth_admin").OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var write = new NpgsqlCommand(statements, connection, transaction))
        {
            await write.ExecuteNonQueryAsync();
        }

        var result = await tokens(transaction);
        await transaction.CommitAsync();
        return result;
    }

    /// <summary>The hook as the auth server calls it: as supabase_auth_admin, inside <paramref name="transaction"/> when given.</summary>
    private async Task<JsonNode> HookAsync(Guid userId, JsonObject claims, string method, NpgsqlTransaction? transaction = null)
    {
        var body = new JsonObject { ["user_id"] = userId.ToString(), ["claims"] = claims.DeepClone(), ["authentication_method"] = method };
        await using var own = transaction is null ? await Db.As("supabase_auth_admin").OpenConnectionAsync() : null;
        await using var call = new NpgsqlCommand("select profile_sync.custom_access_token_hook($1::jsonb)::text", transaction?.Connection ?? own, transaction);
        call.Parameters.Add(new NpgsqlParameter { Value = body.ToJsonString() });
        return JsonNode.Parse((string)(await call.ExecuteScalarAsync())!)!;
    }
}
