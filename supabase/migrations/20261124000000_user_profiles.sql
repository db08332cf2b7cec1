-- ProfileFunctions: one profile per auth user.
-- public.user_profiles with row-level security, and the schema `profile_sync` that holds the settings and
-- the rules every sync path shares (the fallback trigger, the function's webhook upserts, replay).
-- Runs as `postgres` (not a superuser on Supabase), on a new project or on one that already has an older
-- user_profiles table: existing rows are kept, missing columns and constraints are added.

create schema if not exists profile_sync;
comment on schema profile_sync is
  'ProfileFunctions: settings and shared profile rules. Keep it out of the Data API''s exposed schemas.';
revoke all on schema profile_sync from public;
grant usage on schema profile_sync to service_role;

-- Settings: one row, changed at runtime by SQL.
create table if not exists profile_sync.settings (
  singleton boolean primary key default true check (singleton),
  default_attributes jsonb not null
    default '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}'
    check (jsonb_typeof(default_attributes) = 'object'),
  fallback_trigger_enabled boolean not null default true
);
comment on table profile_sync.settings is
  'ProfileFunctions settings (one row). default_attributes: attributes of every new profile, whichever path creates it. '
  'fallback_trigger_enabled: whether the AFTER INSERT trigger on auth.users creates profiles.';
insert into profile_sync.settings (singleton) values (true) on conflict (singleton) do nothing;
alter table profile_sync.settings enable row level security;
revoke all on profile_sync.settings from public, anon, authenticated, service_role;

-- Rule: attributes of a new profile. security definer so that a column default evaluated as
-- service_role can read the settings without a grant on them.
create or replace function profile_sync.default_attributes()
returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select coalesce((select s.default_attributes from profile_sync.settings s where s.singleton), '{}'::jsonb)
$$;

-- Rule: display name = first non-blank of user metadata display_name, full_name, name; then email; then phone.
create or replace function profile_sync.display_name(user_metadata jsonb, email text, phone text)
returns text
language sql immutable
set search_path = ''
as $$
  select coalesce(
    nullif(pg_catalog.btrim(user_metadata ->> 'display_name'), ''),
    nullif(pg_catalog.btrim(user_metadata ->> 'full_name'), ''),
    nullif(pg_catalog.btrim(user_metadata ->> 'name'), ''),
    nullif(pg_catalog.btrim(email), ''),
    nullif(pg_catalog.btrim(phone), ''))
$$;

-- Rule: a user is active unless soft-deleted or banned until a time still to come.
create or replace function profile_sync.is_active(banned_until timestamptz, deleted_at timestamptz)
returns boolean
language sql stable
set search_path = ''
as $$
  select deleted_at is null and (banned_until is null or banned_until <= pg_catalog.now())
$$;

revoke all on function profile_sync.default_attributes() from public;
revoke all on function profile_sync.display_name(jsonb, text, text) from public;
revoke all on function profile_sync.is_active(timestamptz, timestamptz) from public;
grant execute on function profile_sync.default_attributes() to service_role;
grant execute on function profile_sync.display_name(jsonb, text, text) to service_role;
grant execute on function profile_sync.is_active(timestamptz, timestamptz) to service_role;

-- The table, new or upgraded in place.
create table if not exists public.user_profiles (user_id uuid not null);
alter table public.user_profiles
  add column if not exists email text,
  add column if not exists display_name text,
  add column if not exists is_active boolean,
  add column if not exists attributes jsonb,
  add column if not exists created_via text,
  add column if not exists created_at timestamptz,
  add column if not exists updated_at timestamptz,
  add column if not exists source_updated_at timestamptz;

update public.user_profiles set attributes = profile_sync.default_attributes() where attributes is null;
update public.user_profiles set is_active = true where is_active is null;
update public.user_profiles set created_at = pg_catalog.now() where created_at is null;
update public.user_profiles set updated_at = created_at where updated_at is null;

alter table public.user_profiles
  alter column user_id set not null,
  alter column is_active set default true,
  alter column is_active set not null,
  alter column attributes set default profile_sync.default_attributes(),
  alter column attributes set not null,
  alter column created_at set default pg_catalog.now(),
  alter column created_at set not null,
  alter column updated_at set default pg_catalog.now(),
  alter column updated_at set not null;

do $$
declare
  duplicates bigint;
  orphans bigint;
  fk record;
begin
  -- One row per user: the key every path's ON CONFLICT relies on.
  if not exists (
    select 1 from pg_catalog.pg_constraint c
    where c.conrelid = 'public.user_profiles'::regclass and c.contype in ('p', 'u')
      and c.conkey = array[(select a.attnum from pg_catalog.pg_attribute a
                            where a.attrelid = 'public.user_profiles'::regclass and a.attname = 'user_id')]
  ) then
    select count(*) into duplicates
    from (select p.user_id from public.user_profiles p group by p.user_id having count(*) > 1) d;
    if duplicates > 0 then
      raise exception 'public.user_profiles has % user ids with more than one row', duplicates
        using hint = 'Keep one row per user_id (select user_id from public.user_profiles group by 1 having count(*) > 1), then run the migration again.';
    end if;
    if exists (select 1 from pg_catalog.pg_constraint c
               where c.conrelid = 'public.user_profiles'::regclass and c.contype = 'p') then
      alter table public.user_profiles add constraint user_profiles_user_id_key unique (user_id);
    else
      alter table public.user_profiles add constraint user_profiles_pkey primary key (user_id);
    end if;
  end if;

  -- A profile goes with its user: a cascading foreign key (an older one without cascade is replaced).
  for fk in
    select c.conname from pg_catalog.pg_constraint c
    where c.conrelid = 'public.user_profiles'::regclass and c.contype = 'f'
      and c.confrelid = 'auth.users'::regclass and c.confdeltype <> 'c'
  loop
    execute pg_catalog.format('alter table public.user_profiles drop constraint %I', fk.conname);
  end loop;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.contype = 'f'
                   and c.confrelid = 'auth.users'::regclass) then
    alter table public.user_profiles add constraint user_profiles_user_id_fkey
      foreign key (user_id) references auth.users (id) on delete cascade not valid;
    select count(*) into orphans from public.user_profiles p
    where not exists (select 1 from auth.users u where u.id = p.user_id);
    if orphans = 0 then
      alter table public.user_profiles validate constraint user_profiles_user_id_fkey;
    else
      -- Kept, not deleted: `profilesync status` lists them for an operator to decide.
      raise warning '% profiles belong to no auth user; the foreign key stays NOT VALID until they are removed', orphans;
    end if;
  end if;

  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_created_via_check') then
    alter table public.user_profiles add constraint user_profiles_created_via_check
      check (created_via in ('auth_trigger', 'webhook', 'replay'));
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_attributes_check') then
    alter table public.user_profiles add constraint user_profiles_attributes_check
      check (jsonb_typeof(attributes) = 'object');
  end if;
end $$;

comment on table public.user_profiles is 'One profile per auth.users row, kept by ProfileFunctions.';
comment on column public.user_profiles.display_name is
  'First of user metadata display_name, full_name, name, then email, then phone. The user may change it.';
comment on column public.user_profiles.is_active is 'False while the auth user is banned or soft-deleted.';
comment on column public.user_profiles.attributes is
  'Admin-owned (role, department, permissions, access level). Set from profile_sync.settings on creation; sync never overwrites it.';
comment on column public.user_profiles.created_via is
  'Path that created the row: auth_trigger, webhook or replay (null: created before ProfileFunctions).';
comment on column public.user_profiles.source_updated_at is
  'auth.users.updated_at last applied; older events never overwrite newer data.';

create or replace function profile_sync.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;
revoke all on function profile_sync.touch_updated_at() from public;
drop trigger if exists user_profiles_touch_updated_at on public.user_profiles;
create trigger user_profiles_touch_updated_at
  before update on public.user_profiles
  for each row execute function profile_sync.touch_updated_at();

-- Row-level security. Only the policies below apply: older ones could grant more, so they go.
alter table public.user_profiles enable row level security;
do $$
declare
  p record;
begin
  for p in select pol.policyname from pg_catalog.pg_policies pol
           where pol.schemaname = 'public' and pol.tablename = 'user_profiles'
             and pol.policyname not in ('user_profiles_select_own', 'user_profiles_update_own_display_name')
  loop
    raise notice 'dropping policy % on public.user_profiles', p.policyname;
    execute pg_catalog.format('drop policy %I on public.user_profiles', p.policyname);
  end loop;
end $$;

drop policy if exists user_profiles_select_own on public.user_profiles;
create policy user_profiles_select_own on public.user_profiles
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists user_profiles_update_own_display_name on public.user_profiles;
create policy user_profiles_update_own_display_name on public.user_profiles
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

-- Column privileges do the rest: a signed-in user may change display_name and nothing else; anon nothing.
revoke all on public.user_profiles from public, anon, authenticated;
grant select, update (display_name) on public.user_profiles to authenticated;
grant select, insert, update, delete on public.user_profiles to service_role;
