-- ProfileFunctions: roles in the token. A Custom Access Token Hook (Supabase Auth calls it, as supabase_auth_admin,
-- for every access token it issues: sign-in, sign-up, refresh) that adds the profile's role and chosen attributes as
-- claims, so row-level security can read them: `auth.jwt() ->> 'user_role'`.
-- Enable it: Dashboard → Authentication → Hooks → Custom Access Token → Postgres, profile_sync.custom_access_token_hook;
-- or supabase/config.toml: [auth.hook.custom_access_token] enabled = true,
--   uri = "pg-functions://postgres/profile_sync/custom_access_token_hook".
--
-- The claims are what the profile is: the committed profile (or as this transaction wrote it), read by its key. Where
-- the profile is not there yet or is about to change, they are what it will be: inside the auth server's own
-- transaction an anonymous, OAuth or SAML sign-up issues its first token before the fallback converges at commit, and
-- a sign-in that links an identity, verifies an address or brings new metadata issues one before the change is
-- converged. Then the hook reads the mapping (derived_profiles: defaults, attribute rules, proof of the address) with
-- the profile's owned fields over it: the same values a convergence writes, from the same view. Which users this
-- transaction changed, the triggers on auth.users note as each write happens (…_auth_users.sql).
--   user_<key>      for each key of settings.token_claim_keys present in the attributes (user_role, user_department, …)
--   user_is_active  false while banned, soft-deleted or deactivated by an admin
-- Claims the auth server sent are never changed. A malformed event is answered with an error object (HTTP 400); a
-- failure inside only warns and leaves the claims as they came, so a sign-in never fails because of this hook. Its
-- work does not grow with the event: it reads the user id and the claims and nothing else of it (a user's metadata in
-- the claims can be as large as the auth server lets them write), so no size is refused.
--
-- It runs in every token refresh, so it is kept to a few statements (PL/pgSQL pays for each, in every refresh).
create or replace function profile_sync.custom_access_token_hook(event jsonb)
returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  claims jsonb := event -> 'claims'; -- null for a null, an array or a scalar event
  uid uuid;
  attributes jsonb;
  active boolean;
  owned text[];
  claim_keys text[];
  refuse_deactivated boolean;
  added jsonb := '{}'::jsonb;
  key text;
begin
  if jsonb_typeof(claims) is distinct from 'object' or jsonb_typeof(event -> 'user_id') is distinct from 'string' then
    return jsonb_build_object('error', jsonb_build_object('http_code', 400,
      'message', 'custom access token hook: the event must be an object with user_id (a UUID) and claims (an object)'));
  end if;

  begin
    uid := (event ->> 'user_id')::uuid;
    select p.attributes, p.is_active, p.owned_fields, s.token_claim_keys, s.refuse_tokens_when_deactivated
    into attributes, active, owned, claim_keys, refuse_deactivated
    from public.user_profiles p
    cross join profile_sync.settings s
    where p.user_id = uid and s.singleton
      and coalesce(pg_catalog.current_setting('profile_sync.changed_users', true), '') not in (uid::text, '*');
    if not found then
      -- One statement: what the profile should be (profile_state: the mapping, the owned fields over it) and the
      -- settings it needs.
      select e.attributes, e.is_active, e.owned_fields, s.token_claim_keys, s.refuse_tokens_when_deactivated
      into attributes, active, owned, claim_keys, refuse_deactivated
      from profile_sync.profile_state e
      cross join profile_sync.settings s
      where e.user_id = uid and s.singleton;
      if not found then
        return jsonb_build_object('claims', claims); -- not a user (yet): nothing to add
      end if;
    end if;

    -- Deactivated: an admin's owned is_active = false (a ban is the auth server's to enforce).
    if refuse_deactivated and owned @> '{is_active}' and not active then
      return jsonb_build_object('error', jsonb_build_object('http_code', 403,
        'message', 'This account has been deactivated. Contact an administrator.'));
    end if;

    foreach key in array claim_keys loop
      if attributes ? key then
        added := added || jsonb_build_object('user_' || key, attributes -> key);
      end if;
    end loop;
    added := added || jsonb_build_object('user_is_active', active);
    -- Ours never replace a claim the auth server sent.
    return jsonb_build_object('claims', added || claims);
  exception when others then
    if uid is null then -- the first statement: user_id is not a UUID
      return jsonb_build_object('error', jsonb_build_object('http_code', 400,
        'message', 'custom access token hook: user_id is not a UUID'));
    end if;
    raise warning 'profile_sync: custom access token hook left the claims of user % as they came (SQLSTATE %: %)', uid, sqlstate, sqlerrm;
    return jsonb_build_object('claims', claims);
  end;
end
$$;
-- As Supabase requires of a Postgres hook: only the auth server calls it. Security definer, so it needs nothing else.
revoke all on function profile_sync.custom_access_token_hook(jsonb) from public, anon, authenticated, service_role;
grant usage on schema profile_sync to supabase_auth_admin;
grant execute on function profile_sync.custom_access_token_hook(jsonb) to supabase_auth_admin;
