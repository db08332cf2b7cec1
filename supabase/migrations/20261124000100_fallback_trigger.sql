-- ProfileFunctions: the fallback path. An AFTER INSERT trigger on auth.users creates the profile in the
-- signup's own transaction, so no signup is left without one even when no webhook is delivered.
-- Hardened as Supabase advises: security definer owned by postgres, empty search_path, schema-qualified
-- names, and any error caught: a signup never fails because of this trigger.
-- Switch at runtime (no migration):
--   update profile_sync.settings set fallback_trigger_enabled = false;   -- off
--   update profile_sync.settings set fallback_trigger_enabled = true;    -- on (as shipped)

-- What a profile made from an auth user holds: the one mapping the trigger and replay share.
create or replace view profile_sync.auth_user_profiles as
select
  u.id as user_id,
  u.email::text as email,
  profile_sync.display_name(u.raw_user_meta_data, u.email, u.phone) as display_name,
  profile_sync.is_active(u.banned_until, u.deleted_at) as is_active,
  u.updated_at as source_updated_at,
  u.created_at
from auth.users u;
revoke all on profile_sync.auth_user_profiles from public, anon, authenticated, service_role;

-- Creates the profiles that are missing (all of them, set-based) and returns how many it created.
-- The backfill of the fallback path: `select profile_sync.create_missing_profiles();`
create or replace function profile_sync.create_missing_profiles()
returns bigint
language sql security definer
set search_path = ''
as $$
  with created as (
    insert into public.user_profiles (user_id, email, display_name, is_active, source_updated_at, created_via)
    select a.user_id, a.email, a.display_name, a.is_active, a.source_updated_at, 'replay'
    from profile_sync.auth_user_profiles a
    where not exists (select 1 from public.user_profiles p where p.user_id = a.user_id)
    on conflict (user_id) do nothing
    returning 1
  )
  select count(*) from created
$$;
revoke all on function profile_sync.create_missing_profiles() from public, anon, authenticated;
grant execute on function profile_sync.create_missing_profiles() to service_role;

create or replace function profile_sync.create_profile_on_signup()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  begin
    if (select s.fallback_trigger_enabled from profile_sync.settings s where s.singleton) is not false then
      insert into public.user_profiles (user_id, email, display_name, is_active, source_updated_at, created_via)
      select a.user_id, a.email, a.display_name, a.is_active, a.source_updated_at, 'auth_trigger'
      from profile_sync.auth_user_profiles a
      where a.user_id = new.id
      on conflict (user_id) do nothing;
    end if;
  exception when others then
    -- The block's subtransaction is rolled back: no half-written profile, and the signup goes on.
    -- Replay creates the profile later.
    raise warning 'profile_sync: no profile created for auth user % (SQLSTATE %: %)', new.id, sqlstate, sqlerrm;
  end;
  return null;
end
$$;
revoke all on function profile_sync.create_profile_on_signup() from public, anon, authenticated, service_role;

-- The old setup's trigger is retired in the convergence migration.

do $$
begin
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_on_signup') then
    create trigger profile_sync_on_signup
      after insert on auth.users
      for each row execute function profile_sync.create_profile_on_signup();
  end if;
end $$;
