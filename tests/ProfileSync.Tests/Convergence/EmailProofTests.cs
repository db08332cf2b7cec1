using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ProfileSync.Replay;
using ProfileSync.Tests.Support;
using static ProfileSync.Tests.Support.SupabaseAuthFlows;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// An email_domain rule applies only to an address the user proved control of, in each of Supabase Auth's flows as the
/// SQL its server writes (<see cref="SupabaseAuthFlows"/>), on the fallback, webhook and replay paths alike, in the
/// access token issued inside the flow's transaction and after it, and as the independent truth query
/// (<see cref="Truth"/>) says.
/// </summary>
public sealed class EmailProofTests(PostgresCluster cluster) : ServedDatabaseTest(cluster)
{
    private const string Corp = """{"department":"Corp"}""";

    /// <summary>Each flow: what it does to a new user whose address is <c>{0}</c>, and whether the address is then proven.</summary>
    private static readonly Dictionary<string, (Func<TestDatabase, Guid, string, Task<Guid>> Run, bool Proven)> Flows = new()
    {
        ["signup, confirmation required, verified"] = ((db, _, email) => db.SignUpWithEmailAsync(email, Confirmation.Verified), true),
        ["signup, confirmation required, verified in a PKCE flow"] = ((db, _, email) => db.SignUpWithEmailAsync(email, Confirmation.VerifiedByPkce), true),
        ["invited, accepted by its link"] = (async (db, _, email) =>
        {
            var id = await db.InviteAsync(email);
            await db.AcceptInviteAsync(id);
            return id;
        }, true),
        ["signup, confirmation required, not yet verified"] = ((db, _, email) => db.SignUpWithEmailAsync(email, Confirmation.Pending), false),
        ["signup under autoconfirm"] = ((db, _, email) => db.SignUpWithEmailAsync(email, Confirmation.Autoconfirm), false),
        ["phone signup"] = ((db, _, _) => db.SignUpWithPhoneAsync("1555" + Random.Shared.Next(1_000_000, 9_999_999)), false),
        ["anonymous, then an address under autoconfirm"] = ((db, _, email) => db.AnonymousAddsEmailAsync(email, autoconfirm: true), false),
        ["anonymous, then an address confirmed by its link"] = ((db, _, email) => db.AnonymousAddsEmailAsync(email, autoconfirm: false), true),
        ["anonymous, an address requested, then applied under autoconfirm without its link"] = ((db, _, email) =>
            db.AnonymousAddsEmailAsync(email, autoconfirm: true, requestedBeforeAutoconfirm: true), false),
        ["OAuth, a trusted provider that verified the address"] = ((db, _, email) => db.SignUpWithOAuthAsync("google", email, providerVerified: true, autoconfirm: false), true),
        ["OAuth, a trusted provider that verified the address, sent in capitals"] = ((db, _, email) =>
            db.SignUpWithOAuthAsync("google", email, providerVerified: true, autoconfirm: false, identityEmail: email.ToUpperInvariant()), true),
        ["OAuth, a trusted provider that did not verify it, under autoconfirm"] = ((db, _, email) => db.SignUpWithOAuthAsync("google", email, providerVerified: false, autoconfirm: true), false),
        ["OAuth, a provider not trusted to verify, that says it did"] = ((db, _, email) => db.SignUpWithOAuthAsync("azure", email, providerVerified: true, autoconfirm: false), false),
        ["SAML SSO from the provider that owns the domain"] = ((db, owner, email) => db.SignUpWithSamlAsync(owner, email), true),
        ["SAML SSO from another provider of the project"] = (async (db, _, email) => await db.SignUpWithSamlAsync(await db.AddSsoProviderAsync($"customer-{Guid.NewGuid():N}.example"), email), false),
        ["admin-created with email_confirm"] = ((db, _, email) => db.AdminCreatesAsync(email, emailConfirm: true), false),
        ["a pending signup confirmed by an admin (email_confirm)"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync(email, Confirmation.Pending);
            await db.AdminConfirmsEmailAsync(id);
            return id;
        }, false),
        ["a pending signup signed up again once autoconfirm is on"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync(email, Confirmation.Pending);
            await db.SignUpAgainUnderAutoconfirmAsync(id);
            return id;
        }, false),
        ["a pending signup taken over by an OAuth sign-in of an untrusted provider that says it verified the address"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync(email, Confirmation.Pending);
            await db.SignInWithOAuthOverUnconfirmedAsync(id, "azure", providerVerified: true);
            return id;
        }, false),
        ["the same takeover in a PKCE flow"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync(email, Confirmation.Pending);
            await db.SignInWithOAuthOverUnconfirmedAsync(id, "azure", providerVerified: true, pkce: true);
            return id;
        }, false),
        ["a pending signup taken over by an OAuth sign-in under autoconfirm, the provider not having verified it"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync(email, Confirmation.Pending);
            await db.SignInWithOAuthOverUnconfirmedAsync(id, "azure", providerVerified: false);
            return id;
        }, false),
        ["an invite taken over by an OAuth sign-in of an untrusted provider"] = (async (db, _, email) =>
        {
            var id = await db.InviteAsync(email);
            await db.SignInWithOAuthOverUnconfirmedAsync(id, "azure", providerVerified: true);
            return id;
        }, false),
        // A false negative kept on purpose: the invite's token travels in the OAuth flow, and the writes are a takeover's.
        ["an invite accepted by an OAuth sign-in from its link"] = (async (db, _, email) =>
        {
            var id = await db.InviteAsync(email);
            await db.AcceptInviteWithOAuthAsync(id, "azure");
            return id;
        }, false),
        ["invited, then an admin sets a password"] = (async (db, _, email) =>
        {
            var id = await db.InviteAsync(email);
            await db.AdminSetsPasswordAsync(id);
            return id;
        }, false),
        ["admin-created without email_confirm"] = ((db, _, email) => db.AdminCreatesAsync(email, emailConfirm: false), false),
        ["e-mail change, secure double confirmation, new link first"] = ((db, _, email) => ChangedToAsync(db, email, EmailChange.SecureNewLinkFirst), true),
        ["e-mail change, secure double confirmation, old link first"] = ((db, _, email) => ChangedToAsync(db, email, EmailChange.SecureOldLinkFirst), true),
        ["e-mail change, single confirmation"] = ((db, _, email) => ChangedToAsync(db, email, EmailChange.OneLink), true),
        ["e-mail change under autoconfirm, either link"] = ((db, _, email) => ChangedToAsync(db, email, EmailChange.AutoconfirmEitherLink), false),
        ["e-mail change by an admin"] = ((db, _, email) => ChangedToAsync(db, email, EmailChange.AdminUpdate), false),
        ["a pending change emptied by a password change, then set by an admin"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync($"before-{Guid.NewGuid():N}@elsewhere.example", Confirmation.Verified);
            await db.RequestEmailChangeAsync(id, email, secure: false);
            await db.ChangePasswordAsync(id);
            await db.ChangeEmailAsync(id, email, EmailChange.AdminUpdate);
            return id;
        }, false),
        ["autoconfirmed, then a magic link"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync(email, Confirmation.Autoconfirm);
            await db.SignInWithMagicLinkAsync(id);
            return id;
        }, true),
        ["a look-alike domain with the Kelvin sign, verified"] = ((db, _, email) => db.SignUpWithEmailAsync(email.Replace("@corp.", "@\u212Aorp.", StringComparison.Ordinal), Confirmation.Verified), false),
        ["a look-alike domain with a dotted capital I, verified"] = ((db, _, email) => db.SignUpWithEmailAsync(email.Replace("@corp.", "@corp\u0130.", StringComparison.Ordinal), Confirmation.Verified), false),
        ["a token mailed to a look-alike with the Kelvin sign, presented after an admin moved the user to the ASCII domain"] = ((db, _, email) =>
            MovedBeforeVerifyingAsync(db, email.Replace("@corp.", "@\u212Aorp.", StringComparison.Ordinal), email.Replace("@corp.", "@korp.", StringComparison.Ordinal)), false),
        ["a token mailed to a look-alike with a dotted capital I, presented after an admin moved the user to the ASCII domain"] = ((db, _, email) =>
            MovedBeforeVerifyingAsync(db, email.Replace("@corp.", "@corp\u0130.", StringComparison.Ordinal), email.Replace("@corp.", "@corpi.", StringComparison.Ordinal)), false),
        ["a pending signup moved by an admin, then the confirmation sent again to the new address and presented"] = (async (db, _, email) =>
        {
            var id = await db.SignUpWithEmailAsync($"before-{Guid.NewGuid():N}@elsewhere.example", Confirmation.Pending);
            await db.ChangeEmailAsync(id, email, EmailChange.AdminUpdate);
            await db.ResendConfirmationAsync(id);
            await db.VerifyEmailAsync(id);
            return id;
        }, true),
        ["the domain in capitals, verified"] = ((db, _, email) => db.SignUpWithEmailAsync(email.Replace("@corp.example", "@CORP.Example", StringComparison.Ordinal), Confirmation.Verified), true),
    };

    public static TheoryData<string> FlowNames => [.. Flows.Keys];

    [Theory]
    [MemberData(nameof(FlowNames))]
    public async Task A_domain_rule_applies_only_to_a_proven_address_on_every_path(string flow)
    {
        var (run, proven) = Flows[flow];
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (email_domain, attributes) values ('corp.example', $1::jsonb), ('korp.example', $1::jsonb), ('corpi.example', $1::jsonb)""", "postgres", Corp);
        await Db.ExecuteAsync("update profile_sync.settings set email_verifying_providers = '{google,github}'");
        var owner = await Db.AddSsoProviderAsync("corp.example", "korp.example");

        foreach (var path in new[] { "fallback", "webhook", "replay" })
        {
            await Db.ExecuteAsync($"update profile_sync.settings set fallback_trigger_enabled = {path == "fallback"}");
            // The token each of the flow's transactions would issue, as the auth server issues it before its commit.
            var inside = new Dictionary<Guid, string?>();
            var userId = await WithEachCommitAsync(
                async transaction =>
                {
                    foreach (var id in await UserIdsAsync(transaction))
                    {
                        inside[id] = (string?)(await Db.TokenClaimsAsync(id, transaction))?["user_department"];
                    }
                },
                () => run(Db, owner, $"{path}-{Guid.NewGuid():N}@corp.example"));
            Assert.True(inside[userId] == (proven ? "Corp" : "General"), $"{flow}, {path}: the token inside the flow's last transaction says {inside[userId]}");
            switch (path)
            {
                case "webhook":
                    Assert.Equal(HttpStatusCode.OK, (await Served.SendAsync(SupabaseEvents.Update(userId))).Status);
                    break;
                case "replay":
                    await using (var services = TestServices.Build(Db.ConnectionString()))
                    {
                        await services.GetRequiredService<ProfileReplayer>().RunAsync(new ReplayRequest(new ReplayScope([userId])));
                    }

                    break;
            }

            var department = await Db.ScalarAsync<string>("select attributes ->> 'department' from public.user_profiles where user_id = $1", "postgres", userId);
            Assert.True(department == (proven ? "Corp" : "General"), $"{flow}, {path}: department {department}");
            var claimed = (string?)(await Db.TokenClaimsAsync(userId))?["user_department"];
            Assert.True(claimed == (proven ? "Corp" : "General"), $"{flow}, {path}: the next token says {claimed}");
            if (path == "fallback")
            {
                await ExplainSaysAsync(flow, userId, proven);
            }
        }

        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    [Fact]
    public async Task A_proof_is_of_one_address_and_a_later_unproven_one_loses_the_rule()
    {
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (email_domain, attributes) values ('corp.example', $1::jsonb)""", "postgres", Corp);
        var userId = await Db.SignUpWithEmailAsync($"ann-{Guid.NewGuid():N}@corp.example", Confirmation.Verified);
        Assert.Contains("Corp", (await Db.ProfileAsync(userId))!.Attributes, StringComparison.Ordinal);

        await Db.ChangeEmailAsync(userId, $"ann2-{Guid.NewGuid():N}@corp.example", EmailChange.AdminUpdate);

        Assert.DoesNotContain("Corp", (await Db.ProfileAsync(userId))!.Attributes, StringComparison.Ordinal);
        Assert.Equal(1L, await Db.ScalarAsync<long>("select count(*) from profile_sync.email_proofs where user_id = $1", "postgres", userId));
    }

    [Fact]
    public async Task Status_warns_when_domain_rules_meet_users_confirmed_without_a_mail()
    {
        await Db.SignUpWithEmailAsync($"auto-{Guid.NewGuid():N}@corp.example", Confirmation.Autoconfirm);
        await Db.SignUpWithEmailAsync($"real-{Guid.NewGuid():N}@corp.example", Confirmation.Verified);
        Assert.Empty(await StatusWarningsAsync()); // no domain rule: nothing to warn about

        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (email_domain, attributes) values ('corp.example', $1::jsonb)""", "postgres", Corp);

        var warning = Assert.Single(await StatusWarningsAsync());
        Assert.StartsWith("1 e-mail users are confirmed without having proven their address", warning, StringComparison.Ordinal);
        Assert.Contains("enable_confirmations = true", warning, StringComparison.Ordinal);
        var (_, text, _) = await CliRunner.RunAsync("status", "--connection", Db.ConnectionString());
        Assert.Contains("Warning: 1 e-mail users are confirmed without having proven", text, StringComparison.Ordinal);

        await Db.ExecuteAsync("delete from auth.users where email like 'auto-%'", "supabase_auth_admin");
        Assert.Empty(await StatusWarningsAsync());
    }

    [Fact]
    public async Task Explain_shows_each_field_the_proof_every_rule_and_the_replay_for_a_derived_an_owned_and_an_unproven_user()
    {
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (position, email_domain, attributes) values (10, 'corp.example', $1::jsonb)""", "postgres", Corp);
        await Db.ExecuteAsync("""insert into profile_sync.attribute_rules (position, provider, attributes) values (20, 'github', '{"access_level":"dev"}')""");
        var derived = await Db.SignUpWithEmailAsync($"ann-{Guid.NewGuid():N}@corp.example", Confirmation.Verified);
        var owned = await Db.SignUpWithEmailAsync($"bob-{Guid.NewGuid():N}@corp.example", Confirmation.Verified);
        await Db.ExecuteAsync("""update public.user_profiles set attributes = '{"role":"admin"}' where user_id = $1""", "postgres", owned);
        var unproven = await Db.SignUpWithEmailAsync($"mallory-{Guid.NewGuid():N}@corp.example", Confirmation.Autoconfirm);
        await Db.SetFallbackTriggerAsync(enabled: false);
        await Db.UpdateUserAsync(derived, "raw_user_meta_data = '{\"full_name\":\"Ann Renamed\"}'"); // stale until a replay

        var truth = (await Truth.DerivedAsync(Db)).ToDictionary(p => p.UserId);
        var held = (await Truth.ProfilesAsync(Db)).ToDictionary(p => p.UserId);
        foreach (var (user, owner, proven, matched, replay) in new[]
                 {
                     (derived, "derived", true, true, "updated"),
                     (owned, "owned", true, true, "unchanged"),
                     (unproven, "derived", false, false, "unchanged"),
                 })
        {
            var (exitCode, output, _) = await CliRunner.RunAsync("explain", "--user-id", user.ToString(), "--json", "--connection", Db.ConnectionString());
            Assert.Equal(0, exitCode);
            var root = JsonNode.Parse(output)!;
            var fields = root["fields"]!;
            Assert.Equal(truth[user].Email, (string?)fields["email"]!["implied"]);
            Assert.Equal(truth[user].DisplayName, (string?)fields["display_name"]!["implied"]);
            Assert.Equal(held[user].DisplayName, (string?)fields["display_name"]!["current"]);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(truth[user].Attributes), fields["attributes"]!["implied"]));
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(held[user].Attributes), fields["attributes"]!["current"]));
            Assert.Equal(owner, (string?)fields["attributes"]!["state"]);
            Assert.Equal(proven, (bool)root["address"]!["proven"]!);
            Assert.Equal(matched, (bool)root["rules"]![0]!["matched"]!);
            Assert.False((bool)root["rules"]![1]!["matched"]!);
            Assert.Equal("""the user's providers are ["email"]""", (string?)Assert.Single(root["rules"]![1]!["reasons"]!.AsArray()));
            Assert.Equal(replay, (string?)root["replay"]);
            // The next token's claims: the role and department the profile holds (or, while stale, will hold).
            var attributes = JsonNode.Parse(owner == "owned" ? held[user].Attributes : truth[user].Attributes)!;
            Assert.Equal((string?)attributes["role"], (string?)root["token"]!["claims"]!["user_role"]);
            Assert.Equal((string?)attributes["department"], (string?)root["token"]!["claims"]!["user_department"]);
        }

        var (_, text, _) = await CliRunner.RunAsync("explain", "--user-id", unproven.ToString(), "--connection", Db.ConnectionString());
        Assert.Contains("(domain corp.example): not proven", text, StringComparison.Ordinal);
        Assert.Contains("email_domain corp.example -> {\"department\": \"Corp\"}: not matched: the address is not proven: it was confirmed without presenting a token mailed to it (autoconfirm, an admin, an OAuth or SAML sign-in, a change of address, or before ProfileFunctions was installed)", text, StringComparison.Ordinal);
        var (_, ownedText, _) = await CliRunner.RunAsync("explain", "--user-id", owned.ToString(), "--connection", Db.ConnectionString());
        Assert.Contains("attributes    owned", ownedText, StringComparison.Ordinal);
        Assert.Contains("Next token:     user_role admin, user_is_active true", ownedText, StringComparison.Ordinal);
        Assert.Contains("proven by the confirmation mailed to it", ownedText, StringComparison.Ordinal);
        var (_, staleText, _) = await CliRunner.RunAsync("explain", "--user-id", derived.ToString(), "--connection", Db.ConnectionString());
        Assert.Contains("display_name  derived, stale", staleText, StringComparison.Ordinal);
        Assert.Contains("A replay would: refresh its stale derived fields", staleText, StringComparison.Ordinal);

        Assert.Equal(1, (await CliRunner.RunAsync("explain", "--user-id", Guid.NewGuid().ToString(), "--connection", Db.ConnectionString())).ExitCode);
        Assert.Equal(2, (await CliRunner.RunAsync("explain", "--user-id", "{" + derived + "}", "--connection", Db.ConnectionString())).ExitCode);
    }

    private async Task<List<string>> StatusWarningsAsync()
    {
        var (exitCode, output, _) = await CliRunner.RunAsync("status", "--json", "--connection", Db.ConnectionString());
        Assert.Equal(0, exitCode);
        return [.. JsonDocument.Parse(output).RootElement.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!)];
    }

    // profile_sync.explain agrees, and says why a confirmed address of the rule's domain is not proven.
    private async Task ExplainSaysAsync(string flow, Guid userId, bool proven)
    {
        var explained = JsonNode.Parse(await Db.ScalarAsync<string>("select profile_sync.explain($1)::text", "postgres", userId))!;
        var address = explained["address"];
        if (address is null)
        {
            return; // no e-mail address
        }

        Assert.True((bool)address["proven"]! == proven, $"{flow}: explain says proven {address["proven"]}");
        if (!proven && (string?)address["domain"] == "corp.example" && address["confirmedAt"] is not null)
        {
            var corp = explained["rules"]!.AsArray().Single(r => (string?)r!["emailDomain"] == "corp.example")!;
            Assert.Equal(
                "the address is not proven: it was confirmed without presenting a token mailed to it (autoconfirm, an admin, an OAuth or SAML sign-in, a change of address, or before ProfileFunctions was installed)",
                (string?)Assert.Single(corp["reasons"]!.AsArray()));
        }
    }

    private static async Task<List<Guid>> UserIdsAsync(NpgsqlTransaction transaction)
    {
        await using var command = new NpgsqlCommand("select id from auth.users", transaction.Connection, transaction);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<Guid>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    // A pending signup whose address an admin changes (to one Auth's lower-casing folds the first to), then the token
    // mailed to the first address presented.
    private static async Task<Guid> MovedBeforeVerifyingAsync(TestDatabase db, string mailedTo, string movedTo)
    {
        var id = await db.SignUpWithEmailAsync(mailedTo, Confirmation.Pending);
        await db.ChangeEmailAsync(id, movedTo, EmailChange.AdminUpdate);
        await db.VerifyEmailAsync(id);
        return id;
    }

    private static async Task<Guid> ChangedToAsync(TestDatabase db, string email, EmailChange how)
    {
        var id = await db.SignUpWithEmailAsync($"before-{Guid.NewGuid():N}@elsewhere.example", Confirmation.Verified);
        await db.ChangeEmailAsync(id, email, how);
        return id;
    }
}
