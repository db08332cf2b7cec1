using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// Initial attributes from trusted facts (profile_sync.attribute_rules): a proven e-mail's domain, the providers
/// the auth server recorded, app metadata. Never from user metadata. Derived until owned, the same on every path.
/// </summary>
public sealed class AttributeRuleTests(PostgresCluster cluster) : ServedDatabaseTest(cluster)
{
    private const string SsoProvider = "sso:0b4c5a8e-3f1d-4c3e-9a55-6a1f1f7a2b10";

    public static TheoryData<string> Paths => new() { "fallback", "webhook", "replay" };

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task A_signup_claiming_admin_in_its_user_metadata_gets_the_defaults(string path)
    {
        // Rules that would grant admin on app metadata or a provider: user metadata saying the same must not count.
        await AddRuleAsync("""{"role":"admin","is_admin":true}""", appMetadata: """{"role":"admin"}""");
        await AddRuleAsync("""{"is_super_admin":true}""", provider: "admin");

        var userId = await SignUpByAsync(path, "mallory@example.com",
            userMetadata: """{"role":"admin","is_admin":true,"provider":"admin","providers":["admin"],"department":"Board"}""");

        Assert.Equal(await DefaultsAsync(), await AttributesAsync(userId));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Users_are_matched_by_provider_sso_or_oauth_and_by_app_metadata_containment(string path)
    {
        await AddRuleAsync("""{"access_level":"internal"}""", provider: SsoProvider);
        await AddRuleAsync("""{"department":"Engineering"}""", provider: "github");
        await AddRuleAsync("""{"permissions":{"billing":true}}""", appMetadata: """{"plan":"enterprise"}""");

        var sso = await SignUpByAsync(path, "sam@corp.example", confirmed: true,
            appMetadata: $$"""{"provider":"{{SsoProvider}}","providers":["{{SsoProvider}}"]}""");
        // Signed up by e-mail, then linked GitHub: the provider that matches is in providers, not provider.
        var oauth = await SignUpByAsync(path, "octo@example.org", confirmed: true,
            appMetadata: """{"provider":"email","providers":["email","github"]}""");
        var enterprise = await SignUpByAsync(path, "ent@example.net",
            appMetadata: """{"provider":"email","providers":["email"],"plan":"enterprise","seats":40}""");
        var free = await SignUpByAsync(path, "free@example.net", appMetadata: """{"provider":"email","providers":["email"],"plan":"free"}""");

        Assert.Equal(await WithDefaultsAsync("""{"access_level":"internal"}"""), await AttributesAsync(sso));
        Assert.Equal(await WithDefaultsAsync("""{"department":"Engineering"}"""), await AttributesAsync(oauth));
        Assert.Equal(await WithDefaultsAsync("""{"permissions":{"billing":true}}"""), await AttributesAsync(enterprise));
        Assert.Equal(await DefaultsAsync(), await AttributesAsync(free));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task A_directory_group_asserted_at_sso_sign_in_gives_its_role_until_a_sign_in_without_it(string path)
    {
        var provider = $"sso:{Guid.NewGuid()}";
        const string financeAdmins = """{"custom_claims":{"groups":["Finance-Admins"]}}""";
        await AddRuleAsync("""{"role":"finance_admin"}""", provider: provider, identityData: financeAdmins);
        await Db.SetFallbackTriggerAsync(enabled: path == "fallback");

        // Auth issues the first token in the sign-up's own transaction.
        var member = Guid.NewGuid();
        JsonNode? firstToken = null;
        await SupabaseAuthFlows.WithEachCommitAsync(
            async transaction => firstToken = await Db.TokenClaimsAsync(member, transaction),
            () => Db.SignUpWithDirectoryClaimsAsync(member, provider, "fin@corp.example", """{"groups":["Staff","Finance-Admins"]}"""));
        await ConvergeByAsync(path, member, "created");
        Assert.Equal("finance_admin", firstToken?["user_role"]?.GetValue<string>());
        Assert.Equal("finance_admin", await RoleAsync(member));

        // The same group in the user metadata, which the user can edit, or asserted by another identity provider: nothing.
        var forged = await SignUpByAsync(path, "forger@corp.example", confirmed: true,
            appMetadata: $$"""{"provider":"{{provider}}","providers":["{{provider}}"]}""", userMetadata: financeAdmins);
        var elsewhere = await Db.SignUpWithDirectoryClaimsAsync(Guid.NewGuid(), $"sso:{Guid.NewGuid()}", "other@corp.example", """{"groups":["Finance-Admins"]}""");
        await ConvergeByAsync(path, elsewhere, "created");
        Assert.Equal("user", await RoleAsync(forged));
        Assert.Equal("user", await RoleAsync(elsewhere));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));

        // The directory drops the group: the next sign-in takes the role away; put back, the next one gives it back.
        await Db.SignInWithDirectoryClaimsAsync(member, """{"groups":["Staff"]}""");
        await ConvergeByAsync(path, member, "updated");
        Assert.Equal("user", await RoleAsync(member));
        await Db.SignInWithDirectoryClaimsAsync(member, """{"groups":["Finance-Admins"]}""");
        await ConvergeByAsync(path, member, "updated");
        Assert.Equal("finance_admin", await RoleAsync(member));

        // An admin's choice outlives the directory.
        await Db.AsServiceRoleAsync($$"""update public.user_profiles set attributes = attributes || '{"pinned":true}' where user_id = '{{member}}' returning user_id""");
        await Db.SignInWithDirectoryClaimsAsync(member, """{"groups":[]}""");
        await ConvergeByAsync(path, member, "unchanged");
        Assert.Equal("finance_admin", await RoleAsync(member));
    }

    [Fact]
    public async Task A_directory_change_that_no_event_reported_is_found_by_the_reconcile()
    {
        var provider = $"sso:{Guid.NewGuid()}";
        await AddRuleAsync("""{"role":"finance_admin"}""", provider: provider, identityData: """{"custom_claims":{"groups":["Finance-Admins"]}}""");
        var member = await Db.SignUpWithDirectoryClaimsAsync(Guid.NewGuid(), provider, "fin2@corp.example", """{"groups":["Finance-Admins"]}""");
        Assert.Equal("finance_admin", await RoleAsync(member));

        // The fallback off and no webhook wired: only the identity's fingerprint tells a pass that the user changed.
        await Db.SetFallbackTriggerAsync(enabled: false);
        await Db.SignInWithDirectoryClaimsAsync(member, """{"groups":["Staff"]}""");
        await Db.SetFallbackTriggerAsync(enabled: true);
        Assert.Equal("finance_admin", await RoleAsync(member));
        await ReconcileTimer.RunAsync(Db.ConnectionString());

        Assert.Equal("user", await RoleAsync(member));
    }

    [Fact]
    public async Task A_custom_oidc_providers_allow_listed_claim_matches_and_explain_names_the_identity_or_says_why_not()
    {
        await AddRuleAsync("""{"access_level":"gold"}""", provider: "custom:acme", identityData: """{"custom_claims":{"tier":"gold"}}""");

        var gold = await Db.SignUpWithDirectoryClaimsAsync(Guid.NewGuid(), "custom:acme", "gold@acme.example", """{"tier":"gold"}""");
        var silver = await Db.SignUpWithDirectoryClaimsAsync(Guid.NewGuid(), "custom:acme", "silver@acme.example", """{"tier":"silver"}""");
        var google = await Db.SignUpWithDirectoryClaimsAsync(Guid.NewGuid(), "google", "g@acme.example", """{"tier":"gold"}""");

        Assert.Equal(await WithDefaultsAsync("""{"access_level":"gold"}"""), await AttributesAsync(gold));
        Assert.Equal(await DefaultsAsync(), await AttributesAsync(silver));
        Assert.Equal(await DefaultsAsync(), await AttributesAsync(google));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));

        var rule = async (Guid user) => JsonNode.Parse(await Db.ScalarAsync<string>("select (profile_sync.explain($1) -> 'rules' -> 0)::text", "postgres", user))!;
        Assert.Equal(
            await Db.ScalarAsync<Guid>("select id from auth.identities where user_id = $1", "postgres", gold),
            Guid.Parse((await rule(gold))["identity"]!["id"]!.GetValue<string>()));
        var reasons = async (Guid user) => (await rule(user))["reasons"]!.AsArray().Select(r => r!.GetValue<string>()).ToList();
        Assert.Equal(["the user's identity of custom:acme does not contain {\"custom_claims\": {\"tier\": \"gold\"}}"], await reasons(silver));
        Assert.Equal(["the user has no identity of custom:acme"], await reasons(google));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task A_thousand_rules_of_every_kind_give_every_user_what_the_independent_truth_gives(string path)
    {
        // 1,000 rules, in an order their ids do not follow, whose attributes overlap: domains (alone and with a
        // provider), providers, app metadata (values, nested objects, arrays), a SAML directory's groups, a custom OIDC
        // provider's claims (several values at once), identity data with numbers only, and three rules with no condition.
        var sso = $"sso:{Guid.NewGuid()}";
        await Db.ExecuteAsync(
            $$"""
            insert into profile_sync.attribute_rules (position, email_domain, provider, app_metadata, identity_data, attributes)
            select (n * 7919) % 1000, d.email_domain, d.provider, d.app_metadata, d.identity_data,
                   jsonb_build_object('k' || (n % 37), n, 'rule' || n, true)
            from generate_series(1, 1000) n
            cross join lateral (select
              case when n % 9 in (0, 6) then 'd' || (n / 9 % 40) || '.example.com' end as email_domain,
              case n % 9 when 1 then (array['email', 'github', 'google', '{{sso}}', 'custom:none'])[n / 9 % 5 + 1]
                         when 6 then 'email' when 3 then '{{sso}}' when 7 then '{{sso}}' when 4 then 'custom:acme' end as provider,
              case n % 9 when 2 then jsonb_build_object('plan', 'p' || (n / 9 % 30))
                         when 5 then case when n % 2 = 0 then jsonb_build_object('flags', jsonb_build_object('beta', true))
                                          else jsonb_build_object('roles', jsonb_build_array('r' || (n / 9 % 4))) end
                         when 8 then case when n > 30 then jsonb_build_object('plan', 'p' || (n / 9 % 30), 'flags', jsonb_build_object('beta', false)) end
                    end as app_metadata,
              case n % 9 when 3 then jsonb_build_object('custom_claims', jsonb_build_object('groups', jsonb_build_array('G' || (n / 9 % 70))))
                         when 4 then jsonb_build_object('custom_claims', jsonb_build_object('tier', 't' || (n / 9 % 5), 'active', n % 2 = 0))
                         when 7 then jsonb_build_object('custom_claims', jsonb_build_object('level', n / 9 % 4)) end as identity_data
            ) d
            """);

        await Db.SetFallbackTriggerAsync(enabled: path == "fallback");
        var users = new List<Guid>();
        for (var i = 0; i < 60; i++)
        {
            var id = Guid.NewGuid();
            var email = $"u{i}@d{i % 12}.example.com";
            switch (i % 3)
            {
                case 0:
                    var providers = i % 2 == 0 ? """["email"]""" : """["email","github"]""";
                    id = await InsertEmailUserAsync(email, confirmed: i % 4 == 0, mailed: i % 4 == 0,
                        appMetadata: $$"""{"provider":"email","providers":{{providers}},"plan":"p{{i % 30}}","flags":{"beta":{{(i % 5 == 0 ? "true" : "false")}}},"roles":["r{{i % 4}}","r{{(i + 1) % 4}}"]}""");
                    break;
                case 1:
                    await Db.SignUpWithDirectoryClaimsAsync(id, sso, email, $$"""{"groups":["G{{i % 70}}","G{{i * 7 % 70}}","Extra{{i}}"],"level":{{i % 4}}}""");
                    break;
                default:
                    await Db.SignUpWithDirectoryClaimsAsync(id, "custom:acme", email, $$"""{"tier":"t{{i % 5}}","active":{{(i % 2 == 0 ? "true" : "false")}}}""");
                    break;
            }

            users.Add(id);
        }

        if (path == "webhook")
        {
            foreach (var id in users)
            {
                Assert.Equal((HttpStatusCode.OK, "created"), await Served.SendAsync(SupabaseEvents.Insert(id)));
            }
        }
        else if (path == "replay")
        {
            Assert.Equal(0, (await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString())).ExitCode);
        }

        var truth = await Truth.DerivedAsync(Db);
        Assert.Equal(truth, await Truth.ProfilesAsync(Db));
        // Not the defaults alone: the rules matched, and differently for different users.
        Assert.True(truth.Select(p => p.Attributes).Distinct().Count() >= 40, "the rules give most users attributes of their own");
    }

    [Theory]
    [InlineData("fallback")]
    [InlineData("webhook")]
    [InlineData("reconcile")]
    public async Task An_unconfirmed_email_in_a_rules_domain_gets_the_defaults_and_the_rules_attributes_once_the_user_confirms_it(string path)
    {
        await AddRuleAsync("""{"department":"Sales"}""", emailDomain: "Example.COM");
        await Db.ExecuteAsync($"update profile_sync.settings set fallback_trigger_enabled = {path == "fallback"}");
        var userId = await Db.SignUpLikeSupabaseAuthAsync("New.Hire@EXAMPLE.com", "New Hire");
        if (path != "fallback")
        {
            Assert.Equal(HttpStatusCode.OK, (await Served.SendAsync(SupabaseEvents.Insert(userId))).Status);
        }

        Assert.Equal(await DefaultsAsync(), await AttributesAsync(userId));

        await Db.VerifyEmailAsync(userId); // the mailed link, clicked
        switch (path)
        {
            case "webhook":
                Assert.Equal((HttpStatusCode.OK, "updated"), await Served.SendAsync(SupabaseEvents.Update(userId)));
                break;
            case "reconcile": // no event delivered: the timer's reconcile finds it
                await ReconcileTimer.RunAsync(Db.ConnectionString());
                break;
        }

        Assert.Equal(await WithDefaultsAsync("""{"department":"Sales"}"""), await AttributesAsync(userId));
    }

    [Fact]
    public async Task Rules_merge_over_the_defaults_in_position_order_then_id_and_replace_top_level_keys()
    {
        await AddRuleAsync("""{"department":"Late","access_level":"high"}""", position: 20, provider: "email");
        await AddRuleAsync("""{"department":"Early","role":"agent","permissions":{"a":true}}""", position: 10, provider: "email");
        await AddRuleAsync("""{"permissions":{"b":true}}""", position: 10, provider: "email"); // same position, later id
        await AddRuleAsync("""{"department":"Nobody"}""", position: 30, provider: "phone");

        var userId = await SignUpByAsync("fallback", "merge@example.com");

        Assert.Equal(
            await WithDefaultsAsync("""{"role":"agent","department":"Late","access_level":"high","permissions":{"b":true}}"""),
            await AttributesAsync(userId));
    }

    [Fact]
    public async Task Every_kind_of_rule_change_reaches_the_mapping_at_once()
    {
        var userId = await SignUpByAsync("fallback", "change@example.com");
        async Task<string> DerivedAsync() => Canonical(await Db.ScalarAsync<string>(
            "select attributes::text from profile_sync.derived_profiles where user_id = $1", "postgres", userId));

        await AddRuleAsync("""{"department":"One"}""", provider: "email");
        Assert.Equal(await WithDefaultsAsync("""{"department":"One"}"""), await DerivedAsync());
        await Db.ExecuteAsync("""update profile_sync.attribute_rules set attributes = '{"department":"Two"}'""");
        Assert.Equal(await WithDefaultsAsync("""{"department":"Two"}"""), await DerivedAsync());
        await AddRuleAsync("""{"department":"Three"}""", position: -1, provider: "email"); // earlier: Two still wins
        Assert.Equal(await WithDefaultsAsync("""{"department":"Two"}"""), await DerivedAsync());
        await Db.ExecuteAsync("delete from profile_sync.attribute_rules where position = 0");
        Assert.Equal(await WithDefaultsAsync("""{"department":"Three"}"""), await DerivedAsync());
        await Db.ExecuteAsync("truncate profile_sync.attribute_rules");
        Assert.Equal(await DefaultsAsync(), await DerivedAsync());
    }

    [Fact]
    public async Task An_admins_attributes_survive_confirmation_rule_changes_events_and_replays_until_handed_back()
    {
        await AddRuleAsync("""{"department":"Sales"}""", emailDomain: "example.com");
        var userId = await SignUpByAsync("fallback", "kept@example.com", mailed: true);
        await Db.AsServiceRoleAsync($$"""update public.user_profiles set attributes = '{"role":"manager"}' where user_id = '{{userId}}' returning user_id""");

        await Db.VerifyEmailAsync(userId);
        await AddRuleAsync("""{"role":"everyone"}""");
        await Db.ExecuteAsync("""update profile_sync.settings set default_attributes = default_attributes || '{"department":"New"}'""");
        Assert.Equal(HttpStatusCode.OK, (await Served.SendAsync(SupabaseEvents.Update(userId))).Status);
        Assert.Equal(0, (await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString())).ExitCode);
        await ReconcileTimer.RunAsync(Db.ConnectionString());
        await Db.ExecuteAsync("select * from profile_sync.reconcile()");

        Assert.Equal(Canonical("""{"role":"manager"}"""), await AttributesAsync(userId));

        // Handed back: the defaults and every matching rule, at once.
        await Db.ExecuteAsync("update public.user_profiles set attributes = null where user_id = $1", "postgres", userId);
        Assert.Equal(await WithDefaultsAsync("""{"department":"Sales","role":"everyone"}"""), await AttributesAsync(userId));
        Assert.Equal("{}", await Db.ScalarAsync<string>("select owned_fields::text from public.user_profiles where user_id = $1", "postgres", userId));
    }

    [Fact]
    public async Task A_new_rule_reaches_derived_profiles_at_the_next_reconcile_and_status_and_the_dry_run_count_them_first()
    {
        var sales = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            sales.Add(await SignUpByAsync("fallback", $"rep{i}@example.com", confirmed: true));
        }

        var unconfirmed = await SignUpByAsync("fallback", "later@example.com");
        var elsewhere = await SignUpByAsync("fallback", "someone@elsewhere.org", confirmed: true);
        var owned = await SignUpByAsync("fallback", "boss@example.com", confirmed: true);
        await Db.ExecuteAsync("""update public.user_profiles set attributes = '{"role":"owner"}' where user_id = $1""", "postgres", owned);
        var before = await Truth.ProfilesAsync(Db);

        await AddRuleAsync("""{"department":"Sales"}""", emailDomain: "example.com");

        var (_, statusOutput, _) = await CliRunner.RunAsync("status", "--json", "--connection", Db.ConnectionString());
        var status = JsonDocument.Parse(statusOutput).RootElement;
        Assert.Equal(3, status.GetProperty("staleProfiles").GetInt64());
        Assert.Equal(3, status.GetProperty("staleFields").GetProperty("attributes").GetInt64());
        var (_, dryRunOutput, _) = await CliRunner.RunAsync("replay", "--dry-run", "--json", "--connection", Db.ConnectionString());
        Assert.Equal(3, JsonDocument.Parse(dryRunOutput).RootElement.GetProperty("stale").GetInt64());
        Assert.Equal(before, await Truth.ProfilesAsync(Db));

        await ReconcileTimer.RunAsync(Db.ConnectionString());

        var sold = await WithDefaultsAsync("""{"department":"Sales"}""");
        foreach (var userId in sales)
        {
            Assert.Equal(sold, await AttributesAsync(userId));
        }

        Assert.Equal(await DefaultsAsync(), await AttributesAsync(unconfirmed));
        Assert.Equal(await DefaultsAsync(), await AttributesAsync(elsewhere));
        Assert.Equal(Canonical("""{"role":"owner"}"""), await AttributesAsync(owned));
    }

    [Theory]
    [InlineData("""{"email_domain":"example.com","attributes":[1,2]}""", "attributes must be a JSON object, not array")]
    [InlineData("""{"email_domain":"example.com","attributes":"Sales"}""", "attributes must be a JSON object, not string")]
    [InlineData("""{"email_domain":"","attributes":{}}""", "email_domain is empty")]
    [InlineData("""{"email_domain":"@example.com","attributes":{}}""", "email_domain '@example.com' is not a domain name")]
    [InlineData("""{"email_domain":"ana@example.com","attributes":{}}""", "email_domain 'ana@example.com' is not a domain name")]
    [InlineData("""{"email_domain":"https://example.com","attributes":{}}""", "email_domain 'https://example.com' is not a domain name")]
    [InlineData("""{"email_domain":"example","attributes":{}}""", "email_domain 'example' is not a domain name")]
    [InlineData("""{"email_domain":"exa mple.com","attributes":{}}""", "email_domain 'exa mple.com' is not a domain name")]
    [InlineData("""{"email_domain":"-example.com","attributes":{}}""", "email_domain '-example.com' is not a domain name")]
    [InlineData("""{"provider":"  ","attributes":{}}""", "provider is empty")]
    [InlineData("""{"provider":"google ","attributes":{}}""", "provider 'google ' contains white space")]
    [InlineData("""{"app_metadata":{},"attributes":{}}""", "app_metadata is an empty object, which every user contains")]
    [InlineData("""{"app_metadata":["plan"],"attributes":{}}""", "app_metadata must be a JSON object, not array")]
    public async Task Invalid_rules_are_refused_by_the_tables_constraint_with_a_message_that_says_what_is_wrong(string rule, string problem)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => Db.ExecuteAsync(
            """
            insert into profile_sync.attribute_rules (email_domain, provider, app_metadata, attributes)
            select r.email_domain, r.provider, r.app_metadata, r.attributes
            from jsonb_to_record($1::jsonb) as r(email_domain text, provider text, app_metadata jsonb, attributes jsonb)
            """,
            "postgres", rule));

        Assert.Equal((PostgresErrorCodes.CheckViolation, "attribute_rules_valid"), (error.SqlState, error.ConstraintName));
        Assert.Contains("attribute rule refused: " + problem, error.MessageText, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(error.Hint));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from profile_sync.attribute_rules"));
    }

    [Fact]
    public async Task A_rule_without_attributes_is_refused_and_a_rule_update_is_checked_too()
    {
        var missing = await Assert.ThrowsAsync<PostgresException>(() =>
            Db.ExecuteAsync("insert into profile_sync.attribute_rules (email_domain) values ('example.com')"));
        Assert.Equal((PostgresErrorCodes.NotNullViolation, "attributes"), (missing.SqlState, missing.ColumnName));

        await AddRuleAsync("""{"department":"Sales"}""", emailDomain: "example.com");
        var update = await Assert.ThrowsAsync<PostgresException>(() =>
            Db.ExecuteAsync("update profile_sync.attribute_rules set email_domain = 'sales@example.com'"));
        Assert.Equal("attribute_rules_valid", update.ConstraintName);
    }

    [Theory]
    [InlineData("service_role")]
    [InlineData("authenticated")]
    [InlineData("anon")]
    public async Task Only_the_owner_changes_rules_no_api_role_reads_or_writes_them(string role)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => Db.AsApiRoleAsync(role, $$"""{"role":"{{role}}"}""",
            """insert into profile_sync.attribute_rules (attributes) values ('{"role":"admin"}') returning null::uuid"""));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
    }

    /// <summary>
    /// A user, with a profile made by one path: the fallback trigger at commit, an INSERT webhook, or replay.
    /// <paramref name="mailed"/>: a confirmation was mailed (not yet presented); <paramref name="confirmed"/>: and
    /// the user presented it, which proves the address.
    /// </summary>
    private async Task<Guid> SignUpByAsync(
        string path, string email, bool confirmed = false, string appMetadata = """{"provider":"email","providers":["email"]}""",
        string userMetadata = "{}", bool mailed = false)
    {
        await Db.ExecuteAsync($"update profile_sync.settings set fallback_trigger_enabled = {path == "fallback"}");
        var userId = await InsertEmailUserAsync(email, confirmed, appMetadata, userMetadata, mailed);
        switch (path)
        {
            case "webhook":
                Assert.Equal((HttpStatusCode.OK, "created"), await Served.SendAsync(SupabaseEvents.Insert(userId)));
                break;
            case "replay":
                Assert.Equal(0, (await CliRunner.RunAsync("replay", "--user-id", userId.ToString(), "--connection", Db.ConnectionString())).ExitCode);
                break;
        }

        Assert.Equal(path == "fallback" ? "auth_trigger" : path, (await Db.ProfileAsync(userId))?.CreatedVia);
        return userId;
    }

    /// <summary>An e-mail user as <see cref="SignUpByAsync"/> makes one, converged by whichever paths are on.</summary>
    private async Task<Guid> InsertEmailUserAsync(string email, bool confirmed, string appMetadata, string userMetadata = "{}", bool mailed = false)
    {
        var userId = Guid.NewGuid();
        await Db.ExecuteAsync(
            """
            insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, confirmation_token, confirmation_sent_at, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', $2, $3::jsonb, $4::jsonb,
                    case when $5 then 'conf-' || $1 else '' end, case when $5 then now() end, now(), now())
            """,
            "supabase_auth_admin", userId, email, userMetadata, appMetadata, confirmed || mailed);
        if (confirmed || mailed)
        {
            await Db.ExecuteAsync(
                "insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to) values (gen_random_uuid(), $1, 'confirmation_token', 'conf-' || $1, lower($2))",
                "supabase_auth_admin", userId, email);
        }

        if (confirmed)
        {
            await Db.VerifyEmailAsync(userId);
        }

        return userId;
    }

    private Task AddRuleAsync(
        string attributes, int position = 0, string? emailDomain = null, string? provider = null, string? appMetadata = null, string? identityData = null) =>
        Db.ExecuteAsync(
            "insert into profile_sync.attribute_rules (position, email_domain, provider, app_metadata, attributes, identity_data) values ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb)",
            "postgres", position, emailDomain, provider, appMetadata, attributes, identityData);

    /// <summary>What a path does after the auth server's transaction: the fallback did it at commit already.</summary>
    private async Task ConvergeByAsync(string path, Guid userId, string webhookOutcome)
    {
        switch (path)
        {
            case "webhook":
                Assert.Equal((HttpStatusCode.OK, webhookOutcome),
                    await Served.SendAsync(webhookOutcome == "created" ? SupabaseEvents.Insert(userId) : SupabaseEvents.Update(userId)));
                break;
            case "replay":
                Assert.Equal(0, (await CliRunner.RunAsync("replay", "--user-id", userId.ToString(), "--connection", Db.ConnectionString())).ExitCode);
                break;
        }
    }

    private async Task<string?> RoleAsync(Guid userId) =>
        JsonNode.Parse((await Db.ProfileAsync(userId))!.Attributes)?["role"]?.GetValue<string>();

    private async Task<string> DefaultsAsync() => await WithDefaultsAsync("{}");

    /// <summary>The defaults with these top-level keys replaced or added, as a matching rule gives them.</summary>
    private async Task<string> WithDefaultsAsync(string keys)
    {
        var merged = JsonNode.Parse(await Db.ScalarAsync<string>("select default_attributes::text from profile_sync.settings"))!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(keys)!.AsObject())
        {
            merged[key] = value?.DeepClone();
        }

        return Canonical(merged);
    }

    private async Task<string> AttributesAsync(Guid userId) => Canonical((await Db.ProfileAsync(userId))!.Attributes);

    private static string Canonical(string json) => Canonical(JsonNode.Parse(json));

    /// <summary>JSON with its keys in order: two objects with the same keys and values read the same.</summary>
    private static string Canonical(JsonNode? node) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => JsonSerializer.Serialize(p.Key) + ":" + Canonical(p.Value))) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };
}
