namespace ProfileSync.Tests.Support;

/// <summary>The fields a profile must hold, to compare field by field.</summary>
public sealed record ProfileFields(Guid UserId, string? Email, string? DisplayName, bool IsActive, string Attributes);

/// <summary>
/// What the profiles should be, computed here from auth.users with the rules written out again (not through the
/// product's views), and what they are.
/// </summary>
public static class Truth
{
    private const string ExpectedSql = """
        select u.id, u.email::text,
               -- The display name's candidates, in order, made plain here (DisplayNames).
               array[u.raw_user_meta_data ->> 'display_name', u.raw_user_meta_data ->> 'full_name', u.raw_user_meta_data ->> 'name',
                     u.email::text, u.phone],
               u.deleted_at is null and (u.banned_until is null or u.banned_until <= now()),
               ((select s.default_attributes from profile_sync.settings s) || coalesce((
                   -- The matching rules' keys, later positions (then ids) over earlier: jsonb keeps a key's last value.
                   -- A domain rule needs a settled proof of the very address (a pending one is another transaction's),
                   -- a trusted provider's verified identity, or the user's SSO provider owning the domain.
                   select jsonb_object_agg(kv.key, kv.value order by r.position, r.id)
                   from profile_sync.attribute_rules r cross join jsonb_each(r.attributes) kv
                   where (r.email_domain is null or (translate(substring(u.email from '@([^@]*)$'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                                                       = translate(r.email_domain, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                                                     and (exists (select 1 from profile_sync.email_proofs p where p.user_id = u.id and lower(p.email collate "C") = lower(u.email collate "C") and p.presented_in is null)
                                                          or exists (select 1 from auth.identities i
                                                                     where i.user_id = u.id and i.identity_data -> 'email_verified' = 'true'::jsonb
                                                                       and i.provider in (select unnest(s.email_verifying_providers) from profile_sync.settings s)
                                                                       and lower((i.identity_data ->> 'email') collate "C") = lower(u.email collate "C"))
                                                          or exists (select 1 from auth.identities i, auth.sso_domains d
                                                                     where i.user_id = u.id and i.provider = 'sso:' || d.sso_provider_id
                                                                       and translate(d.domain, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                                                                         = translate(substring(u.email from '@([^@]*)$'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')))))
                     -- A rule on identity data: an identity of its provider that contains it (never the user metadata).
                     and (case when r.identity_data is not null
                               then exists (select 1 from auth.identities i where i.user_id = u.id and i.provider = r.provider
                                                                              and i.identity_data @> r.identity_data)
                               else r.provider is null or r.provider = u.raw_app_meta_data ->> 'provider'
                                    or r.provider in (select jsonb_array_elements_text(case when jsonb_typeof(u.raw_app_meta_data -> 'providers') = 'array'
                                                                                            then u.raw_app_meta_data -> 'providers' end)) end)
                     and (r.app_metadata is null or u.raw_app_meta_data @> r.app_metadata)), '{}'))::text
        from auth.users u order by u.id
        """;

    private const string ActualSql = """
        select p.user_id, p.email, p.display_name, p.is_active, p.attributes::text from public.user_profiles p order by p.user_id
        """;

    /// <summary>Every auth user's profile as auth.users, the defaults and the attribute rules imply, before ownership.</summary>
    public static Task<List<ProfileFields>> DerivedAsync(TestDatabase db) =>
        ReadAsync(db, ExpectedSql, static (reader, ordinal) => reader.GetFieldValue<string?[]>(ordinal).Select(DisplayNames.Plain).FirstOrDefault(n => n is not null));

    /// <summary>Every row of public.user_profiles.</summary>
    public static Task<List<ProfileFields>> ProfilesAsync(TestDatabase db) =>
        ReadAsync(db, ActualSql, static (reader, ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal));

    private static async Task<List<ProfileFields>> ReadAsync(TestDatabase db, string sql, Func<Npgsql.NpgsqlDataReader, int, string?> displayName)
    {
        await using var command = db.As("supabase_admin").CreateCommand(sql);
        command.CommandTimeout = 0; // millions of users, by hand (LiveUpgradeTests)
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<ProfileFields>();
        while (await reader.ReadAsync())
        {
            rows.Add(new ProfileFields(
                reader.GetGuid(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                displayName(reader, 2),
                reader.GetBoolean(3),
                reader.GetString(4)));
        }

        return rows;
    }
}
