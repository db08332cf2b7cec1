using System.Text.Json.Nodes;
using Npgsql;

namespace ProfileSync.Tests.Support;

/// <summary>
/// Supabase Auth's account flows, as the SQL its server writes for them (supabase/auth at bc32168: internal/api
/// signup.go, verify.go, user.go, external.go, samlacs.go, admin.go, invite.go, magic_link.go, mail.go, pkce.go,
/// token.go; internal/models user.go, one_time_token.go, flow_state.go, amr.go; internal/tokens service.go): the
/// statements in order, each flow's transactions as the server commits them, as supabase_auth_admin (Auth's nested
/// transactions are the same transaction, no savepoint: internal/storage/dial.go). Tokens and the one-time-token rows
/// that say which address each was minted for are written as Auth writes them (a hash here is just a distinct text),
/// and so are the sessions and PKCE codes a flow issues. These are fixtures of the facts the proof of an address relies
/// on: which writes present a mailed token, and which only look alike.
/// </summary>
public static class SupabaseAuthFlows
{
    public enum Confirmation
    {
        /// <summary>"Confirm email" on: a token is mailed, nobody has clicked it yet.</summary>
        Pending,

        /// <summary>"Confirm email" on, and the user presented the mailed token (link or 6-digit code).</summary>
        Verified,

        /// <summary>"Confirm email" on, signed up in a PKCE flow, and the mailed link opened: a code, exchanged later.</summary>
        VerifiedByPkce,

        /// <summary>"Confirm email" off (mailer autoconfirm): confirmed at signup, nothing mailed.</summary>
        Autoconfirm,
    }

    public enum EmailChange
    {
        /// <summary>Secure change: links to both addresses; the new address's clicked first, then the old one's.</summary>
        SecureNewLinkFirst,

        /// <summary>Secure change: the old address's link first, then the new one's, which applies it.</summary>
        SecureOldLinkFirst,

        /// <summary>Secure change off: one link, to the new address.</summary>
        OneLink,

        /// <summary>Autoconfirm with secure change on: both links mailed, the first click (either) applies it.</summary>
        AutoconfirmEitherLink,

        /// <summary>An admin's update of the address (PUT /admin/users/{id} {email}): no token at all.</summary>
        AdminUpdate,
    }

    private const string AppMetadataEmail = """{"provider":"email","providers":["email"]}""";

    /// <summary>POST /signup with an e-mail, then (<see cref="Confirmation.Verified"/>) POST /verify.</summary>
    public static async Task<Guid> SignUpWithEmailAsync(this TestDatabase db, string email, Confirmation confirmation)
    {
        var id = Guid.NewGuid();
        var pkce = confirmation == Confirmation.VerifiedByPkce;
        var token = pkce ? $"pkce_conf-{id}" : $"conf-{id}"; // addFlowPrefixToToken
        var confirm = confirmation == Confirmation.Autoconfirm
            ? ConfirmSql(id) // in the INSERT's transaction
            : $"""
              {(pkce ? FlowStateSql(Guid.NewGuid(), "email", "email/signup", id) : "")}
              update auth.users set confirmation_token = '{token}', confirmation_sent_at = now(), updated_at = now() where id = '{id}';
              {MintSql(id, "confirmation_token", token, email)}
              """;
        await db.AuthTransactionAsync($"""
            {InsertSql(id, email, AppMetadataEmail)}
            update auth.users set role = 'authenticated', updated_at = now() where id = '{id}';
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('{id}', '{id}', jsonb_build_object('sub', '{id}', 'email', '{email}', 'email_verified', false), 'email', now(), now());
            update auth.users set raw_user_meta_data = jsonb_build_object('sub', '{id}', 'email', '{email}', 'email_verified', false), updated_at = now() where id = '{id}';
            update auth.users set raw_app_meta_data = '{AppMetadataEmail}', updated_at = now() where id = '{id}';
            {confirm}
            """);
        if (confirmation == Confirmation.Verified)
        {
            await db.VerifyEmailAsync(id);
        }
        else if (pkce)
        {
            await db.VerifyEmailByPkceAsync(id);
        }

        return id;
    }

    /// <summary>
    /// POST /verify with the signup confirmation's token (signupVerify, verify.go): the user presents it, and the same
    /// transaction signs them in by one-time password.
    /// </summary>
    public static Task VerifyEmailAsync(this TestDatabase db, Guid id) =>
        db.AuthTransactionAsync($"""
            {SignupVerifySql(id)}
            {SessionSql(id, "otp")}
            """);

    /// <summary>
    /// GET /verify with a PKCE signup's link (verifyGet, pkce.go issueAuthCode): signupVerify, then the code's issue
    /// recorded on the signup's flow state, no session; then POST /token?grant_type=pkce exchanges the code (token.go).
    /// </summary>
    public static async Task VerifyEmailByPkceAsync(this TestDatabase db, Guid id)
    {
        await db.AuthTransactionAsync($"""
            {SignupVerifySql(id)}
            update auth.flow_state set auth_code_issued_at = now(), updated_at = now()
            where id = (select f.id from auth.flow_state f where f.user_id = '{id}' and f.authentication_method = 'email/signup' order by f.created_at desc limit 1);
            """);
        await db.AuthTransactionAsync($"""
            {SessionSql(id, "email/signup")}
            delete from auth.flow_state where user_id = '{id}' and authentication_method = 'email/signup';
            """);
    }

    /// <summary>POST /signup with a phone, SMS autoconfirm: ConfirmPhone empties the token it shares with e-mail.</summary>
    public static async Task<Guid> SignUpWithPhoneAsync(this TestDatabase db, string phone)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync($$"""
            insert into auth.users (instance_id, id, aud, role, phone, raw_user_meta_data, raw_app_meta_data, confirmation_token, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', '{{id}}', 'authenticated', '', '{{phone}}', '{}', '{"provider":"phone","providers":["phone"]}', 'sms-{{id}}', now(), now());
            update auth.users set role = 'authenticated', updated_at = now() where id = '{{id}}';
            update auth.users set confirmation_token = '', phone_confirmed_at = now(), updated_at = now() where id = '{{id}}';
            """);
        return id;
    }

    /// <summary>
    /// An anonymous sign-in, then PUT /user {email}: applied at once under autoconfirm, else by the link mailed to it.
    /// <paramref name="requestedBeforeAutoconfirm"/>: first requested while confirmations were on (a link mailed, not
    /// opened), then requested again once autoconfirm was on, which applies it without the link.
    /// </summary>
    public static async Task<Guid> AnonymousAddsEmailAsync(this TestDatabase db, string email, bool autoconfirm, bool requestedBeforeAutoconfirm = false)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync(AnonymousSignInSql(id));
        if (!autoconfirm || requestedBeforeAutoconfirm)
        {
            await db.AuthTransactionAsync($"""
                update auth.users set email_change_token_current = '', email_change_token_new = 'new-{id}', email_change = '{email}',
                  email_change_sent_at = now(), email_change_confirm_status = 0, updated_at = now() where id = '{id}';
                {MintSql(id, "email_change_token_new", $"new-{id}", email)}
                """);
        }

        // emailChangeVerify's apply branch (verify.go), then ConfirmEmailChange and, the user being unconfirmed, Confirm:
        // by the link (verify, which then signs the user in by one-time password), or by PUT /user under autoconfirm
        // (user.go: no sign-in, the user is signed in already).
        await db.AuthTransactionAsync($$"""
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('{{id}}', '{{id}}', jsonb_build_object('sub', '{{id}}', 'email', '{{email}}', 'email_verified', true), 'email', now(), now());
            update auth.users set is_anonymous = false, updated_at = now() where id = '{{id}}';
            update auth.users set email = '{{email}}', email_change = '', email_change_token_current = '', email_change_token_new = '',
              email_change_confirm_status = 0, updated_at = now() where id = '{{id}}';
            delete from auth.one_time_tokens where user_id = '{{id}}';
            {{ConfirmSql(id)}}
            update auth.identities set identity_data = identity_data || jsonb_build_object('email', '{{email}}') where user_id = '{{id}}' and provider = 'email';
            {{(autoconfirm ? "" : $"update auth.users set raw_app_meta_data = '{AppMetadataEmail}', updated_at = now() where id = '{id}';\n{SessionSql(id, "otp")}")}}
            """);
        return id;
    }

    /// <summary>
    /// An OAuth sign-up (external.go, CreateAccount): confirmed in the INSERT's transaction when the provider says the
    /// address is verified or under autoconfirm; otherwise a confirmation is mailed and pending. The identity keeps the
    /// address as the provider sent it (<paramref name="identityEmail"/>, when it differs from the user's, which Auth
    /// lower-cases).
    /// </summary>
    public static async Task<Guid> SignUpWithOAuthAsync(
        this TestDatabase db, string provider, string email, bool providerVerified, bool autoconfirm, string? identityEmail = null)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync(OAuthSignUpSql(id, provider, email, providerVerified, autoconfirm, identityEmail));
        return id;
    }

    /// <summary>The statements of <see cref="SignUpWithOAuthAsync"/>, to run inside a transaction of one's own.</summary>
    public static string OAuthSignUpSql(Guid id, string provider, string email, bool providerVerified, bool autoconfirm, string? identityEmail = null)
    {
        var confirmed = providerVerified || autoconfirm;
        var appMetadata = $$"""{"provider":"{{provider}}","providers":["{{provider}}"]}""";
        return $$"""
            {{InsertSql(id, email, appMetadata)}}
            update auth.users set role = 'authenticated', updated_at = now() where id = '{{id}}';
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('oauth-{{id}}', '{{id}}', jsonb_build_object('sub', 'oauth-{{id}}', 'email', '{{identityEmail ?? email}}', 'email_verified', {{(providerVerified ? "true" : "false")}}), '{{provider}}', now(), now());
            update auth.users set encrypted_password = null, updated_at = now() where id = '{{id}}';
            update auth.users set raw_user_meta_data = jsonb_build_object('email', '{{email}}', 'email_verified', {{(providerVerified ? "true" : "false")}}), updated_at = now() where id = '{{id}}';
            {{(confirmed ? ConfirmSql(id) : $"update auth.users set confirmation_token = 'conf-{id}', confirmation_sent_at = now(), updated_at = now() where id = '{id}';\n{MintSql(id, "confirmation_token", $"conf-{id}", email)}")}}
            """;
    }

    /// <summary>
    /// An OAuth sign-in of an existing user that links a new identity (external.go, LinkAccount): the identity, its
    /// data merged into the user metadata, the providers, then the refresh token's last_sign_in_at; the token is made
    /// in the same transaction. To run inside a transaction of one's own.
    /// </summary>
    public static string LinkIdentitySql(Guid id, string provider, string email, string fullName) => $$"""
        insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
        values ('link-{{id}}', '{{id}}', jsonb_build_object('sub', 'link-{{id}}', 'email', '{{email}}', 'email_verified', true, 'full_name', '{{fullName}}'), '{{provider}}', now(), now());
        update auth.users set raw_user_meta_data = raw_user_meta_data || jsonb_build_object('email', '{{email}}', 'email_verified', true, 'full_name', '{{fullName}}'), updated_at = now() where id = '{{id}}';
        update auth.users set raw_app_meta_data = jsonb_set(raw_app_meta_data, '{providers}', coalesce(raw_app_meta_data -> 'providers', '[]') || '["{{provider}}"]'), updated_at = now() where id = '{{id}}';
        update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{{id}}';
        """;

    /// <summary>A SAML SSO sign-up (samlacs.go): Auth confirms whatever address the identity provider asserts.</summary>
    public static async Task<Guid> SignUpWithSamlAsync(this TestDatabase db, Guid ssoProviderId, string email)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync(SamlSignUpSql(id, ssoProviderId, email));
        return id;
    }

    /// <summary>The statements of <see cref="SignUpWithSamlAsync"/>, to run inside a transaction of one's own.</summary>
    public static string SamlSignUpSql(Guid id, Guid ssoProviderId, string email)
    {
        var provider = $"sso:{ssoProviderId}";
        var appMetadata = $$"""{"provider":"{{provider}}","providers":["{{provider}}"]}""";
        return $$"""
            {{InsertSql(id, email, appMetadata, sso: true)}}
            update auth.users set role = 'authenticated', updated_at = now() where id = '{{id}}';
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('nameid-{{id}}', '{{id}}', jsonb_build_object('sub', 'nameid-{{id}}', 'email', '{{email}}', 'email_verified', true), '{{provider}}', now(), now());
            update auth.users set encrypted_password = null, updated_at = now() where id = '{{id}}';
            {{ConfirmSql(id)}}
            """;
    }

    /// <summary>
    /// A sign-up through an identity provider that asserts directory claims, such as groups (samlacs.go for SAML,
    /// custom_oauth.go for a custom OIDC/OAuth provider's allow-listed claims): the identity keeps them under
    /// custom_claims, and Auth copies the identity's data into the user metadata, which the user can edit.
    /// </summary>
    public static async Task<Guid> SignUpWithDirectoryClaimsAsync(this TestDatabase db, Guid id, string provider, string email, string customClaims)
    {
        var appMetadata = $$"""{"provider":"{{provider}}","providers":["{{provider}}"]}""";
        var identityData = $"jsonb_build_object('sub', 'dir-{id}', 'email', '{email}', 'email_verified', true, 'custom_claims', '{customClaims}'::jsonb)";
        await db.AuthTransactionAsync($$"""
            {{InsertSql(id, email, appMetadata, sso: provider.StartsWith("sso:", StringComparison.Ordinal))}}
            update auth.users set role = 'authenticated', updated_at = now() where id = '{{id}}';
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('dir-{{id}}', '{{id}}', {{identityData}}, '{{provider}}', now(), now());
            update auth.users set encrypted_password = null, raw_user_meta_data = {{identityData}}, updated_at = now() where id = '{{id}}';
            {{ConfirmSql(id)}}
            """);
        return id;
    }

    /// <summary>
    /// A later sign-in through the same identity provider (UpdateIdentityData, UpdateUserMetaData): what it asserts now
    /// replaces custom_claims in the identity and in the user metadata; then the sign-in itself.
    /// </summary>
    public static Task SignInWithDirectoryClaimsAsync(this TestDatabase db, Guid id, string customClaims) =>
        db.AuthTransactionAsync($$"""
            update auth.identities set identity_data = identity_data || jsonb_build_object('custom_claims', '{{customClaims}}'::jsonb), updated_at = now()
            where user_id = '{{id}}' and provider_id = 'dir-{{id}}';
            update auth.users set raw_user_meta_data = raw_user_meta_data || jsonb_build_object('custom_claims', '{{customClaims}}'::jsonb), updated_at = now() where id = '{{id}}';
            update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{{id}}';
            """);

    /// <summary>The statements of an anonymous sign-in (anonymous.go): the INSERT and the role, then its first token.</summary>
    public static string AnonymousSignInSql(Guid id) => $$"""
        insert into auth.users (instance_id, id, aud, role, raw_user_meta_data, raw_app_meta_data, is_anonymous, created_at, updated_at)
        values ('00000000-0000-0000-0000-000000000000', '{{id}}', 'authenticated', '', '{}', '{}', true, now(), now());
        update auth.users set role = 'authenticated', updated_at = now() where id = '{{id}}';
        """;

    /// <summary>An SSO provider with the domains it owns, as `supabase sso add --domains` records them.</summary>
    public static async Task<Guid> AddSsoProviderAsync(this TestDatabase db, params string[] domains)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync($"""
            insert into auth.sso_providers (id, resource_id, created_at, updated_at) values ('{id}', null, now(), now());
            {string.Concat(domains.Select(d => $"insert into auth.sso_domains (id, sso_provider_id, domain, created_at, updated_at) values (gen_random_uuid(), '{id}', '{d}', now(), now());\n"))}
            """);
        return id;
    }

    /// <summary>POST /admin/users, with or without email_confirm: nothing is mailed either way.</summary>
    public static async Task<Guid> AdminCreatesAsync(this TestDatabase db, string email, bool emailConfirm)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync($"""
            {InsertSql(id, email, AppMetadataEmail)}
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('{id}', '{id}', jsonb_build_object('sub', '{id}', 'email', '{email}', 'email_verified', false), 'email', now(), now());
            update auth.users set role = 'authenticated', updated_at = now() where id = '{id}';
            {(emailConfirm ? ConfirmSql(id) : "")}
            """);
        return id;
    }

    /// <summary>A change of a confirmed user's address to <paramref name="email"/>, as <paramref name="how"/> applies it.</summary>
    public static async Task ChangeEmailAsync(this TestDatabase db, Guid id, string email, EmailChange how)
    {
        if (how == EmailChange.AdminUpdate)
        {
            // adminUserUpdate (admin.go): the e-mail identity's address, unverified, then the user's.
            await db.AuthTransactionAsync($"""
                update auth.identities set identity_data = identity_data || jsonb_build_object('email', '{email}', 'email_verified', false) where user_id = '{id}' and provider = 'email';
                update auth.users set email = '{email}', updated_at = now() where id = '{id}';
                """);
            return;
        }

        await db.RequestEmailChangeAsync(id, email, secure: how != EmailChange.OneLink);
        switch (how)
        {
            case EmailChange.SecureNewLinkFirst: // the presented token's row goes first, then its column (verify.go)
                await db.AuthTransactionAsync($"""
                    delete from auth.one_time_tokens where user_id = '{id}' and token_type = 'email_change_token_new';
                    update auth.users set email_change_confirm_status = 1, email_change_token_current = 'cur-{id}', email_change_token_new = '', updated_at = now() where id = '{id}';
                    """);
                break;
            case EmailChange.SecureOldLinkFirst:
                await db.AuthTransactionAsync($"""
                    delete from auth.one_time_tokens where user_id = '{id}' and token_type = 'email_change_token_current';
                    update auth.users set email_change_confirm_status = 1, email_change_token_current = '', email_change_token_new = 'new-{id}', updated_at = now() where id = '{id}';
                    """);
                break;
        }

        // The click that applies it: ConfirmEmailChange (user.go), which empties both token columns; verify then signs the
        // user in by one-time password.
        await db.AuthTransactionAsync($"""
            update auth.users set email = email_change, email_change = '', email_change_token_current = '', email_change_token_new = '',
              email_change_confirm_status = 0, updated_at = now() where id = '{id}';
            delete from auth.one_time_tokens where user_id = '{id}';
            update auth.users set raw_app_meta_data = '{AppMetadataEmail}', updated_at = now() where id = '{id}';
            {SessionSql(id, "otp")}
            """);
    }

    /// <summary>PUT /user {email} (sendEmailChange, mail.go): the new address's token, and under secure change the current address's.</summary>
    public static Task RequestEmailChangeAsync(this TestDatabase db, Guid id, string email, bool secure) =>
        db.AuthTransactionAsync($"""
            update auth.users set email_change_token_current = '{(secure ? $"cur-{id}" : "")}', email_change_token_new = 'new-{id}',
              email_change = '{email}', email_change_sent_at = now(), email_change_confirm_status = 0, updated_at = now() where id = '{id}';
            {(secure ? MintSql(id, "email_change_token_current", $"cur-{id}", null) : "")}
            {MintSql(id, "email_change_token_new", $"new-{id}", email)}
            """);

    /// <summary>POST /magiclink for a confirmed user, then the link clicked (Recover, verify.go), which signs the user in by one-time password.</summary>
    public static async Task SignInWithMagicLinkAsync(this TestDatabase db, Guid id)
    {
        var email = await db.ScalarAsync<string>("select email::text from auth.users where id = $1", "postgres", id);
        await db.AuthTransactionAsync($"""
            update auth.users set recovery_token = 'rec-{id}', recovery_sent_at = now(), updated_at = now() where id = '{id}';
            {MintSql(id, "recovery_token", $"rec-{id}", email)}
            """);
        await db.AuthTransactionAsync($"""
            update auth.users set recovery_token = '', updated_at = now() where id = '{id}';
            delete from auth.one_time_tokens where user_id = '{id}';
            update auth.users set raw_app_meta_data = raw_app_meta_data, updated_at = now() where id = '{id}';
            {SessionSql(id, "otp")}
            """);
    }

    /// <summary>POST /resend {"type": "signup"} (resend.go, sendConfirmation): a new confirmation token, mailed to the address the user has now.</summary>
    public static async Task ResendConfirmationAsync(this TestDatabase db, Guid id)
    {
        var email = await db.ScalarAsync<string>("select email::text from auth.users where id = $1", "postgres", id);
        await db.AuthTransactionAsync($"""
            update auth.users set confirmation_token = 'conf2-{id}', confirmation_sent_at = now(), updated_at = now() where id = '{id}';
            {MintSql(id, "confirmation_token", $"conf2-{id}", email)}
            """);
    }

    /// <summary>POST /invite (invite.go, sendInvite): the user, its e-mail identity, then the invite's token mailed.</summary>
    public static async Task<Guid> InviteAsync(this TestDatabase db, string email)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync($"""
            {InsertSql(id, email, AppMetadataEmail, password: "")}
            update auth.users set role = 'authenticated', updated_at = now() where id = '{id}';
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('{id}', '{id}', jsonb_build_object('sub', '{id}', 'email', '{email}'), 'email', now(), now());
            update auth.users set confirmation_token = 'inv-{id}', confirmation_sent_at = now(), invited_at = now(), updated_at = now() where id = '{id}';
            {MintSql(id, "confirmation_token", $"inv-{id}", email)}
            """);
        return id;
    }

    /// <summary>
    /// The invite's link opened (signupVerify, verify.go): an invited user without a password gets one (UpdatePassword,
    /// which empties every token and ends every session), then Confirm, then a sign-in by one-time password.
    /// </summary>
    public static Task AcceptInviteAsync(this TestDatabase db, Guid id) =>
        db.AuthTransactionAsync($"""
            {UpdatePasswordSql(id)}
            {SignupVerifySql(id)}
            {SessionSql(id, "otp")}
            """);

    /// <summary>
    /// An OAuth sign-in by a provider whose address is a user's who never confirmed it, a pending signup or an invite
    /// (external.go createAccountFromExternalIdentity, LinkAccount; models RemoveUnconfirmedIdentities): the identity
    /// linked, then the password, the user metadata and every other identity replaced by the provider's, then Confirm
    /// (the provider says it verified the address, or autoconfirm is on), then a session by OAuth; in a PKCE flow
    /// (<paramref name="pkce"/>: its flow state made by GET /authorize) the callback records the code on the flow state
    /// instead, and POST /token exchanges it. No mailed token is presented.
    /// </summary>
    public static async Task SignInWithOAuthOverUnconfirmedAsync(this TestDatabase db, Guid id, string provider, bool providerVerified, bool pkce = false)
    {
        var flowState = Guid.NewGuid();
        if (pkce)
        {
            await db.AuthTransactionAsync(FlowStateSql(flowState, provider, "oauth", userId: null));
        }

        await db.AuthTransactionAsync($"""
            {LinkOAuthIdentitySql(id, provider, providerVerified)}
            {RemoveUnconfirmedIdentitiesSql(id)}
            {ConfirmSql(id)}
            {(pkce
                ? $"update auth.flow_state set user_id = '{id}', provider_access_token = 'pat-{id}', auth_code_issued_at = now(), updated_at = now() where id = '{flowState}';"
                : SessionSql(id, "oauth"))}
            """);
        if (pkce)
        {
            await db.AuthTransactionAsync($"""
                {SessionSql(id, "oauth")}
                delete from auth.flow_state where id = '{flowState}';
                """);
        }
    }

    /// <summary>
    /// An invite accepted by signing in with an OAuth provider from the invite's link (external.go processInvite): the
    /// identity linked, the provider's metadata, the other identities removed, Confirm, a session by OAuth. The invite's
    /// token travels in the OAuth flow's state, never through verify, so its writes are those of
    /// <see cref="SignInWithOAuthOverUnconfirmedAsync"/>.
    /// </summary>
    public static Task AcceptInviteWithOAuthAsync(this TestDatabase db, Guid id, string provider) =>
        db.AuthTransactionAsync($"""
            {OAuthIdentitySql(id, provider, verified: true)}
            update auth.users set raw_app_meta_data = raw_app_meta_data || jsonb_build_object('provider', '{provider}'), updated_at = now() where id = '{id}';
            {ProvidersSql(id)}
            update auth.users set raw_user_meta_data = raw_user_meta_data || {OAuthIdentityData(id, verified: true)}, updated_at = now() where id = '{id}';
            {RemoveUnconfirmedIdentitiesSql(id)}
            {ConfirmSql(id)}
            {SessionSql(id, "oauth")}
            """);

    /// <summary>
    /// POST /signup again for a pending address once autoconfirm is on (signup.go): the user and its e-mail identity
    /// exist, so Confirm alone; the session (by password) in a transaction of its own after the commit.
    /// </summary>
    public static async Task SignUpAgainUnderAutoconfirmAsync(this TestDatabase db, Guid id)
    {
        await db.AuthTransactionAsync(ConfirmSql(id));
        await db.AuthTransactionAsync(SessionSql(id, "password"));
    }

    /// <summary>PUT /admin/users/{id} {"email_confirm": true} (admin.go adminUserUpdate): Confirm, no session.</summary>
    public static Task AdminConfirmsEmailAsync(this TestDatabase db, Guid id) => db.AuthTransactionAsync(ConfirmSql(id));

    /// <summary>PUT /admin/users/{id} {"password": …} (admin.go adminUserUpdate): UpdatePassword, no session.</summary>
    public static Task AdminSetsPasswordAsync(this TestDatabase db, Guid id) => db.AuthTransactionAsync(UpdatePasswordSql(id));

    /// <summary>PUT /user {password} (UpdatePassword): every token emptied, none presented; the user's other sessions end.</summary>
    public static Task ChangePasswordAsync(this TestDatabase db, Guid id) => db.AuthTransactionAsync(UpdatePasswordSql(id, signedIn: true));

    /// <summary>
    /// Runs <paramref name="flow"/>, calling <paramref name="beforeCommit"/> inside each of its transactions just before
    /// the commit, where the auth server issues a session's access token (and calls the token hook).
    /// </summary>
    public static async Task<T> WithEachCommitAsync<T>(Func<NpgsqlTransaction, Task> beforeCommit, Func<Task<T>> flow)
    {
        BeforeCommit.Value = beforeCommit;
        try
        {
            return await flow();
        }
        finally
        {
            BeforeCommit.Value = null;
        }
    }

    /// <summary>
    /// The Custom Access Token Hook as the auth server calls it (internal/hooks/hookspgfunc.go), as supabase_auth_admin,
    /// inside <paramref name="transaction"/> when given; the claims it returns.
    /// </summary>
    public static async Task<JsonNode?> TokenClaimsAsync(this TestDatabase db, Guid userId, NpgsqlTransaction? transaction = null)
    {
        var body = new JsonObject
        {
            ["user_id"] = userId.ToString(),
            ["claims"] = new JsonObject { ["sub"] = userId.ToString(), ["role"] = "authenticated", ["aal"] = "aal1" },
            ["authentication_method"] = "otp",
        };
        await using var own = transaction is null ? await db.As("supabase_auth_admin").OpenConnectionAsync() : null;
        await using var call = new NpgsqlCommand("select profile_sync.custom_access_token_hook($1::jsonb)::text", transaction?.Connection ?? own, transaction);
        call.Parameters.Add(new NpgsqlParameter { Value = body.ToJsonString() });
        return JsonNode.Parse((string)(await call.ExecuteScalarAsync())!)!["claims"];
    }

    private static readonly AsyncLocal<Func<NpgsqlTransaction, Task>?> BeforeCommit = new();

    private static async Task AuthTransactionAsync(this TestDatabase db, string statements)
    {
        await using var connection = await db.As("supabase_auth_admin").OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand(statements, connection, transaction))
        {
            await command.ExecuteNonQueryAsync();
        }

        if (BeforeCommit.Value is { } beforeCommit)
        {
            await beforeCommit(transaction);
        }

        await transaction.CommitAsync();
    }

    private static string InsertSql(Guid id, string email, string appMetadata, bool sso = false, string? password = null) => $"""
        insert into auth.users (instance_id, id, aud, role, email, encrypted_password, raw_user_meta_data, raw_app_meta_data, is_sso_user,
                                confirmation_token, recovery_token, email_change_token_new, email_change_token_current, email_change, created_at, updated_at)
        values ('00000000-0000-0000-0000-000000000000', '{id}', 'authenticated', '', '{email}', '{password ?? $"bcrypt-{id}"}', '{"{"}{"}"}', '{appMetadata}', {(sso ? "true" : "false")},
                '', '', '', '', '', now(), now());
        """;

    // signupVerify (verify.go): Confirm, the e-mail identity's email_verified; then UpdateAppMetaDataProviders, the
    // providers as the identities say (unchanged for a user who signed up by e-mail).
    private static string SignupVerifySql(Guid id) => $"""
        {ConfirmSql(id)}
        update auth.identities set identity_data = identity_data || '{"{"}"email_verified":true{"}"}' where user_id = '{id}' and provider = 'email';
        update auth.users set raw_app_meta_data = raw_app_meta_data, updated_at = now() where id = '{id}';
        """;

    // UpdatePassword (user.go): the password, every token emptied, the one-time tokens, then every session (Logout) or,
    // for a signed-in user, every other one (LogoutAllExceptMe).
    private static string UpdatePasswordSql(Guid id, bool signedIn = false) => $"""
        update auth.users set encrypted_password = 'changed-{id}', confirmation_token = '', confirmation_sent_at = null, recovery_token = '',
          recovery_sent_at = null, email_change_token_current = '', email_change_token_new = '', email_change_sent_at = null,
          phone_change_token = '', phone_change_sent_at = null, reauthentication_token = '', reauthentication_sent_at = null,
          updated_at = now() where id = '{id}';
        delete from auth.one_time_tokens where user_id = '{id}';
        delete from auth.sessions where user_id = '{id}'{(signedIn ? $" and id <> (select s.id from auth.sessions s where s.user_id = '{id}' order by s.created_at desc limit 1)" : "")};
        """;

    // IssueRefreshToken (internal/tokens/service.go, GrantAuthenticatedUser): a session, its refresh token, the user's
    // last_sign_in_at, then the session's authentication method (AddClaimToSession, amr.go), before the access token.
    private static string SessionSql(Guid id, string method)
    {
        var session = Guid.NewGuid();
        return $"""
            insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip) values ('{session}', '{id}', now(), now(), 'aal1', 'test', '127.0.0.1');
            insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
            values ('00000000-0000-0000-0000-000000000000', 'rt-{session:N}', '{id}', false, now(), now(), '', '{session}');
            update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{id}';
            insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method) values (gen_random_uuid(), '{session}', now(), now(), '{method}')
            on conflict on constraint mfa_amr_claims_session_id_authentication_method_pkey do update set updated_at = now();
            """;
    }

    // generateFlowState (pkce.go): a PKCE flow's state, with its code and challenge.
    private static string FlowStateSql(Guid flowState, string providerType, string method, Guid? userId) => $"""
        insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge, provider_type, authentication_method, created_at, updated_at)
        values ('{flowState}', {(userId is null ? "null" : $"'{userId}'")}, '{Guid.NewGuid()}', 's256', 'challenge-{flowState:N}', '{providerType}', '{method}', now(), now());
        """;

    // UpdateAppMetaDataProviders (user.go): the identities' providers, oldest first; the first is the provider.
    private static string ProvidersSql(Guid id) => $"""
        update auth.users set raw_app_meta_data = raw_app_meta_data || (
          select jsonb_build_object('provider', (array_agg(p.provider order by p.first, p.provider))[1], 'providers', jsonb_agg(p.provider order by p.first, p.provider))
          from (select i.provider, min(i.created_at) as first from auth.identities i where i.user_id = '{id}' group by i.provider) p), updated_at = now() where id = '{id}';
        """;

    private static string OAuthIdentityData(Guid id, bool verified) =>
        $"(select jsonb_build_object('sub', 'oauth-{id}', 'email', u.email, 'email_verified', {(verified ? "true" : "false")}, 'full_name', 'From OAuth') from auth.users u where u.id = '{id}')";

    // createNewIdentity (external.go): the provider's identity of an existing user.
    private static string OAuthIdentitySql(Guid id, string provider, bool verified) => $"""
        insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
        values ('oauth-{id}', '{id}', {OAuthIdentityData(id, verified)}, '{provider}', now(), now(), now());
        """;

    // LinkAccount (external.go): the identity, its data over the user metadata, the providers.
    private static string LinkOAuthIdentitySql(Guid id, string provider, bool verified) => $"""
        {OAuthIdentitySql(id, provider, verified)}
        update auth.users set raw_user_meta_data = raw_user_meta_data || {OAuthIdentityData(id, verified)}, updated_at = now() where id = '{id}';
        {ProvidersSql(id)}
        """;

    // RemoveUnconfirmedIdentities (user.go), for an OAuth identity: no password, the identity's data as the user
    // metadata, every other identity removed, the providers again.
    private static string RemoveUnconfirmedIdentitiesSql(Guid id) => $"""
        update auth.users set encrypted_password = null, updated_at = now() where id = '{id}';
        update auth.users set raw_user_meta_data = (select i.identity_data from auth.identities i where i.user_id = '{id}' and i.provider_id = 'oauth-{id}'), updated_at = now() where id = '{id}';
        delete from auth.identities where user_id = '{id}' and provider_id <> 'oauth-{id}';
        {ProvidersSql(id)}
        """;

    // Confirm (user.go): one UPDATE, then the user metadata's email_verified, then every one-time token of the user.
    private static string ConfirmSql(Guid id) => $"""
        update auth.users set confirmation_token = '', email_confirmed_at = now(), updated_at = now() where id = '{id}';
        update auth.users set raw_user_meta_data = raw_user_meta_data || '{"{"}"email_verified":true{"}"}', updated_at = now() where id = '{id}';
        delete from auth.one_time_tokens where user_id = '{id}';
        """;

    // CreateOneTimeToken (one_time_token.go): the token's row, relates_to the address it was minted for, lower-cased
    // (Go's strings.ToLower, which folds the Kelvin sign and the dotted capital I to ASCII k and i, as lower() does
    // under this cluster's C.UTF-8).
    private static string MintSql(Guid id, string type, string token, string? address) => $"""
        delete from auth.one_time_tokens where user_id = '{id}' and token_type = '{type}';
        insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to)
        values (gen_random_uuid(), '{id}', '{type}', '{token}', lower({(address is null ? $"(select email from auth.users where id = '{id}')" : $"'{address}'")}));
        """;
}
