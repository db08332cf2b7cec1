namespace ProfileSync.Tests.Support;

/// <summary>
/// Supabase Auth's account flows, as the SQL its server writes for them (supabase/auth at bc32168: internal/api
/// signup.go, verify.go, user.go, external.go, samlacs.go, admin.go, magic_link.go, mail.go; internal/models user.go,
/// one_time_token.go): the statements in order, each flow's transactions as the server commits them, as
/// supabase_auth_admin. Tokens and the one-time-token rows that say which address each was minted for are written
/// as Auth writes them (a hash here is just a distinct text). These are fixtures of the facts the proof of an address
/// relies on: which writes present a mailed token, and which only look alike.
/// </summary>
public static class SupabaseAuthFlows
{
    public enum Confirmation
    {
        /// <summary>"Confirm email" on: a token is mailed, nobody has clicked it yet.</summary>
        Pending,

        /// <summary>"Confirm email" on, and the user presented the mailed token (link or 6-digit code).</summary>
        Verified,

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
        var confirm = confirmation == Confirmation.Autoconfirm
            ? ConfirmSql(id) // in the INSERT's transaction
            : $"""
              update auth.users set confirmation_token = 'conf-{id}', confirmation_sent_at = now(), updated_at = now() where id = '{id}';
              {MintSql(id, "confirmation_token", $"conf-{id}", email)}
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

        return id;
    }

    /// <summary>POST /verify with the signup confirmation's token (signupVerify, verify.go): the user presents it.</summary>
    public static Task VerifyEmailAsync(this TestDatabase db, Guid id) =>
        db.AuthTransactionAsync($"""
            {ConfirmSql(id)}
            update auth.identities set identity_data = identity_data || '{"{"}"email_verified":true{"}"}' where user_id = '{id}';
            -- UpdateAppMetaDataProviders: the providers as the identities say, unchanged for a user who signed up by e-mail
            update auth.users set raw_app_meta_data = raw_app_meta_data, updated_at = now() where id = '{id}';
            update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{id}';
            """);

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

    /// <summary>An anonymous sign-in, then PUT /user {email}: applied at once under autoconfirm, else by the link mailed to it.</summary>
    public static async Task<Guid> AnonymousAddsEmailAsync(this TestDatabase db, string email, bool autoconfirm)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync(AnonymousSignInSql(id));
        if (!autoconfirm)
        {
            await db.AuthTransactionAsync($"""
                update auth.users set email_change_token_current = '', email_change_token_new = 'new-{id}', email_change = '{email}',
                  email_change_sent_at = now(), email_change_confirm_status = 0, updated_at = now() where id = '{id}';
                {MintSql(id, "email_change_token_new", $"new-{id}", email)}
                """);
        }

        // emailChangeVerify's apply branch (verify.go), then ConfirmEmailChange and, the user being unconfirmed, Confirm.
        await db.AuthTransactionAsync($$"""
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('{{id}}', '{{id}}', jsonb_build_object('sub', '{{id}}', 'email', '{{email}}', 'email_verified', true), 'email', now(), now());
            update auth.users set is_anonymous = false, updated_at = now() where id = '{{id}}';
            update auth.users set email = '{{email}}', email_change = '', email_change_token_current = '', email_change_token_new = '',
              email_change_confirm_status = 0, updated_at = now() where id = '{{id}}';
            delete from auth.one_time_tokens where user_id = '{{id}}';
            {{ConfirmSql(id)}}
            {{(autoconfirm ? "" : $"update auth.users set raw_app_meta_data = '{AppMetadataEmail}', updated_at = now() where id = '{id}';")}}
            """);
        return id;
    }

    /// <summary>
    /// An OAuth sign-up (external.go, CreateAccount): confirmed in the INSERT's transaction when the provider says the
    /// address is verified or under autoconfirm; otherwise a confirmation is mailed and pending.
    /// </summary>
    public static async Task<Guid> SignUpWithOAuthAsync(this TestDatabase db, string provider, string email, bool providerVerified, bool autoconfirm)
    {
        var id = Guid.NewGuid();
        await db.AuthTransactionAsync(OAuthSignUpSql(id, provider, email, providerVerified, autoconfirm));
        return id;
    }

    /// <summary>The statements of <see cref="SignUpWithOAuthAsync"/>, to run inside a transaction of one's own.</summary>
    public static string OAuthSignUpSql(Guid id, string provider, string email, bool providerVerified, bool autoconfirm)
    {
        var confirmed = providerVerified || autoconfirm;
        var appMetadata = $$"""{"provider":"{{provider}}","providers":["{{provider}}"]}""";
        return $$"""
            {{InsertSql(id, email, appMetadata)}}
            update auth.users set role = 'authenticated', updated_at = now() where id = '{{id}}';
            insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
            values ('oauth-{{id}}', '{{id}}', jsonb_build_object('sub', 'oauth-{{id}}', 'email', '{{email}}', 'email_verified', {{(providerVerified ? "true" : "false")}}), '{{provider}}', now(), now());
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
            await db.AuthTransactionAsync($"update auth.users set email = '{email}', updated_at = now() where id = '{id}';");
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

        // The click that applies it: ConfirmEmailChange (user.go), which empties both token columns.
        await db.AuthTransactionAsync($"""
            update auth.users set email = email_change, email_change = '', email_change_token_current = '', email_change_token_new = '',
              email_change_confirm_status = 0, updated_at = now() where id = '{id}';
            delete from auth.one_time_tokens where user_id = '{id}';
            update auth.users set raw_app_meta_data = '{AppMetadataEmail}', updated_at = now() where id = '{id}';
            update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{id}';
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

    /// <summary>POST /magiclink for a confirmed user, then the link clicked (Recover, verify.go).</summary>
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
            update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{id}';
            """);
    }

    /// <summary>PUT /user {password} (UpdatePassword): every token emptied, none presented.</summary>
    public static Task ChangePasswordAsync(this TestDatabase db, Guid id) =>
        db.AuthTransactionAsync($"""
            update auth.users set encrypted_password = 'changed-{id}', confirmation_token = '', confirmation_sent_at = null, recovery_token = '',
              recovery_sent_at = null, email_change_token_current = '', email_change_token_new = '', email_change_sent_at = null,
              phone_change_token = '', phone_change_sent_at = null, reauthentication_token = '', reauthentication_sent_at = null,
              updated_at = now() where id = '{id}';
            delete from auth.one_time_tokens where user_id = '{id}';
            """);

    private static Task AuthTransactionAsync(this TestDatabase db, string statements) =>
        db.ExecuteAsync($"begin;\n{statements}\ncommit;", "supabase_auth_admin");

    private static string InsertSql(Guid id, string email, string appMetadata, bool sso = false) => $"""
        insert into auth.users (instance_id, id, aud, role, email, encrypted_password, raw_user_meta_data, raw_app_meta_data, is_sso_user,
                                confirmation_token, recovery_token, email_change_token_new, email_change_token_current, email_change, created_at, updated_at)
        values ('00000000-0000-0000-0000-000000000000', '{id}', 'authenticated', '', '{email}', 'bcrypt-{id}', '{"{"}{"}"}', '{appMetadata}', {(sso ? "true" : "false")},
                '', '', '', '', '', now(), now());
        """;

    // Confirm (user.go): one UPDATE, then the user metadata's email_verified, then every one-time token of the user.
    private static string ConfirmSql(Guid id) => $"""
        update auth.users set confirmation_token = '', email_confirmed_at = now(), updated_at = now() where id = '{id}';
        update auth.users set raw_user_meta_data = raw_user_meta_data || '{"{"}"email_verified":true{"}"}', updated_at = now() where id = '{id}';
        delete from auth.one_time_tokens where user_id = '{id}';
        """;

    // CreateOneTimeToken (one_time_token.go): the token's row, relates_to the address it was minted for.
    private static string MintSql(Guid id, string type, string token, string? address) => $"""
        delete from auth.one_time_tokens where user_id = '{id}' and token_type = '{type}';
        insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to)
        values (gen_random_uuid(), '{id}', '{type}', '{token}', lower({(address is null ? $"(select email from auth.users where id = '{id}')" : $"'{address}'")}));
        """;
}
