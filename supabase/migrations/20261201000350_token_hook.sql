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
-- The claims the hook adds for a profile's attributes and is_active (profile_sync.token_is_current checks the same).
create or replace function profile_sync.token_claims(attributes jsonb, active boolean, claim_keys text[])
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
  added jsonb := '{}'::jsonb;
  key text;
begin
  foreach key in array claim_keys loop
    if attributes ? key then
      added := added || jsonb_build_object('user_' || key, attributes -> key);
    end if;
  end loop;
  return added || jsonb_build_object('user_is_active', active);
end
$$;
revoke all on function profile_sync.token_claims(jsonb, boolean, text[]) from public, anon, authenticated, service_role;

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

    -- Ours never replace a claim the auth server sent.
    return jsonb_build_object('claims', profile_sync.token_claims(attributes, active, claim_keys) || claims);
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

-- With settings.end_sessions_on_claim_change on, a change of a profile's claimed values ends the user's sessions, as
-- Supabase Auth's global sign-out does (refresh tokens go with their session): the next refresh fails, and the user
-- signs in again and gets the new claims. Whoever changed the profile (sync, an admin, the Data API), with the change.
-- Ending them never fails the change: where it cannot, it warns.
create or replace function profile_sync.end_sessions_on_claim_change()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  claim_keys text[];
begin
  select s.token_claim_keys into claim_keys from profile_sync.settings s where s.singleton and s.end_sessions_on_claim_change;
  if claim_keys is not null
     and profile_sync.token_claims(old.attributes, old.is_active, claim_keys)
         is distinct from profile_sync.token_claims(new.attributes, new.is_active, claim_keys) then
    begin
      delete from auth.sessions s where s.user_id = new.user_id;
    exception when others then
      raise warning 'profile_sync: the sessions of user % were not ended after a change of its claims (SQLSTATE %)', new.user_id, sqlstate;
    end;
  end if;
  return null;
end
$$;
revoke all on function profile_sync.end_sessions_on_claim_change() from public, anon, authenticated, service_role;

-- The trigger exists only while the setting is on, so that as shipped no profile write pays for a call (a bulk
-- statement rewrites every profile): changing the setting makes or drops it.
create or replace function profile_sync.follow_end_sessions_setting()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if (select s.end_sessions_on_claim_change from profile_sync.settings s where s.singleton) then
    create or replace trigger user_profiles_end_sessions_on_claim_change
      after update of attributes, is_active on public.user_profiles
      for each row when ((old.attributes, old.is_active) is distinct from (new.attributes, new.is_active))
      execute function profile_sync.end_sessions_on_claim_change();
  else
    drop trigger if exists user_profiles_end_sessions_on_claim_change on public.user_profiles;
  end if;
  return null;
end
$$;
revoke all on function profile_sync.follow_end_sessions_setting() from public, anon, authenticated, service_role;
create or replace trigger settings_end_sessions_on_claim_change
  after insert or update of end_sessions_on_claim_change on profile_sync.settings
  for each statement execute function profile_sync.follow_end_sessions_setting();
-- As the setting is now (a statement that changes no row still fires it).
update profile_sync.settings set end_sessions_on_claim_change = end_sessions_on_claim_change where false;

-- Whether the request's access token still says what the hook would put in it now: every user_* claim the hook adds,
-- with the value it adds, and none it would leave out; and the user is active. False for a token issued
-- before a change of the user's claimed values (a role taken away, a deactivation, a ban), for a token without these
-- claims (issued before the hook was enabled), and for a user who is gone. For row-level security, read once per
-- statement as an initPlan:
--   create policy … using ((select profile_sync.token_is_current()) and …);
-- An access token lives until it expires (an hour by default) whatever changed; this check makes a change count at
-- the next request. It reads the committed profile by its key (or, before the profile is made, what it will be).
create or replace function profile_sync.token_is_current()
returns boolean
language plpgsql stable security definer
set search_path = ''
as $$
declare
  token jsonb := auth.jwt();
  subject text := token ->> 'sub';
  attributes jsonb;
  active boolean;
  claim_keys text[];
  key text;
begin
  -- Not a user's token (the anon key, a third-party provider's subject): nothing to compare.
  if subject is null or subject !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' then
    return false;
  end if;
  select p.attributes, p.is_active, s.token_claim_keys into attributes, active, claim_keys
  from public.user_profiles p cross join profile_sync.settings s
  where p.user_id = subject::uuid and s.singleton;
  if not found then
    select e.attributes, e.is_active, s.token_claim_keys into attributes, active, claim_keys
    from profile_sync.profile_state e cross join profile_sync.settings s
    where e.user_id = subject::uuid and s.singleton;
    if not found then
      return false; -- not a user
    end if;
  end if;
  if not active or token -> 'user_is_active' is distinct from 'true'::jsonb then
    return false;
  end if;
  -- The claims profile_sync.token_claims makes, compared one by one (no object built for a comparison): absent in the
  -- attributes, absent from a current token.
  foreach key in array claim_keys loop
    if token -> ('user_' || key) is distinct from attributes -> key then
      return false;
    end if;
  end loop;
  return true;
end
$$;
revoke all on function profile_sync.token_is_current() from public, anon, authenticated, service_role;
-- Signed-in users' requests call it from policies: that function and nothing else of the schema.
grant usage on schema profile_sync to authenticated;
grant execute on function profile_sync.token_is_current() to authenticated, service_role;
