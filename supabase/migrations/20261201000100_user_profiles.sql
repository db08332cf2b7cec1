-- ProfileFunctions, 2 of 7: public.user_profiles, one row per auth user, with row-level security and ownership.
-- New, or the original setup's table upgraded in place: its rows are kept, missing columns and constraints are added,
-- and what those rows hold that the mapping does not imply is marked as somebody's choice (owned).
-- This transaction rewrites profiles and takes no lock on auth.users that the auth server waits for (it only reads
-- auth.users): the foreign key and the triggers on auth.users come in the short migration 6 of 7 (…_auth_users.sql).

create table if not exists public.user_profiles (user_id uuid not null);
-- Each column once, added where missing (an older table lacks some).
alter table public.user_profiles
  add column if not exists email text,
  add column if not exists display_name text,
  add column if not exists is_active boolean,
  add column if not exists attributes jsonb,
  add column if not exists created_via text,
  add column if not exists created_at timestamptz,
  add column if not exists updated_at timestamptz,
  add column if not exists source_updated_at timestamptz,
  -- Null until decided below: rows from before the product get their owned fields from what they hold.
  add column if not exists owned_fields text[];

-- What the derived fields were derived from (profile_sync.derived_profiles.fingerprint), kept by the convergence
-- functions: a pass over everyone derives again only the profiles whose fingerprint differs.
alter table public.user_profiles add column if not exists source_fingerprint bigint;

comment on table public.user_profiles is 'One profile per auth.users row, kept by ProfileFunctions.';
comment on column public.user_profiles.email is 'auth.users.email, always (null for phone-only and anonymous users).';
comment on column public.user_profiles.display_name is
  'First of user metadata display_name, full_name, name, then email, then phone; until the user or an admin sets it. '
  'Plain: at most 200 characters, trimmed, no invisible character, no space but U+0020 (profile_sync.plain_display_name).';
comment on column public.user_profiles.is_active is
  'False while the auth user is banned or soft-deleted, or when an admin deactivated the profile.';
comment on column public.user_profiles.attributes is
  'Role, department, permissions, access level: the defaults with the matching profile_sync.attribute_rules merged '
  'over them, until an admin or the service role sets them (then listed in owned_fields). Set to null to hand back.';
comment on column public.user_profiles.created_via is
  'Path that created the row: auth_trigger, webhook or replay (null: created before ProfileFunctions).';
comment on column public.user_profiles.source_updated_at is 'auth.users.updated_at when the profile last changed to follow it.';
comment on column public.user_profiles.source_fingerprint is
  'What the derived fields were derived from (profile_sync.derived_profiles.fingerprint); null: unknown, derive again. '
  'Kept by sync; a change of the row by anyone else empties it.';
comment on column public.user_profiles.owned_fields is
  'Fields a user or an admin set (display_name, is_active, attributes): no sync path changes them. Set a field to null to hand it back.';

-- Rows from before: what was somebody's choice stays theirs (owned); what a formula wrote is derived and follows
-- today's mapping from the next convergence. A value is owned when it differs both from what auth.users implies today
-- and from what the original setup's trigger (create_user_profile_trigger) and one-off backfill wrote:
-- display_name = coalesce(metadata display_name, email), and attributes = their defaults plus a created_via key
-- ("auth_trigger" from the trigger, "manual_fix" from the backfill). An inactive flag that a lapsed ban or a soft
-- delete explains is sync's own and heals. Decided once, before the defaults below fill the gaps (a missing value is
-- nobody's choice).
with original(attributes) as (
  select '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}'::jsonb
         || via
  from (values ('{}'::jsonb), ('{"created_via":"auth_trigger"}'), ('{"created_via":"manual_fix"}')) v(via)
)
update public.user_profiles p
set owned_fields = array_remove(array[
      case when p.display_name is not null and p.display_name is distinct from d.display_name
                and p.display_name is distinct from coalesce(u.raw_user_meta_data ->> 'display_name', u.email::text)
           then 'display_name' end,
      case when p.is_active is not null and not p.is_active and u.banned_until is null and u.deleted_at is null then 'is_active' end,
      case when p.attributes is not null and p.attributes is distinct from d.attributes
                and p.attributes not in (select o.attributes from original o)
           then 'attributes' end
    ], null)
from profile_sync.derived_profiles d, auth.users u
where p.owned_fields is null and d.user_id = p.user_id and u.id = p.user_id;
update public.user_profiles set owned_fields = '{}' where owned_fields is null; -- profiles of users that are gone
-- Names from before that break today's rule (profile_sync.plain_display_name) are made plain, so the rule can hold.
update public.user_profiles set display_name = profile_sync.plain_display_name(display_name)
where display_name is distinct from profile_sync.plain_display_name(display_name);
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
  alter column updated_at set not null,
  alter column owned_fields set default '{}',
  alter column owned_fields set not null;

do $$
declare
  duplicates bigint;
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

  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_created_via_check') then
    alter table public.user_profiles add constraint user_profiles_created_via_check
      check (created_via in ('auth_trigger', 'webhook', 'replay'));
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_display_name_check') then
    -- The guarantee, whoever writes and however (the ownership trigger first says the rule in words).
    alter table public.user_profiles add constraint user_profiles_display_name_check
      check (display_name is not distinct from profile_sync.plain_display_name(display_name));
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_attributes_check') then
    alter table public.user_profiles add constraint user_profiles_attributes_check
      check (jsonb_typeof(attributes) = 'object');
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_owned_fields_check') then
    alter table public.user_profiles add constraint user_profiles_owned_fields_check
      check (owned_fields operator(pg_catalog.<@) array['display_name', 'is_active', 'attributes']);
  end if;
end $$;

-- Ownership: derived until owned, kept by triggers on this table so that it holds whoever writes: the Data API, the
-- SQL editor, the service role. Sync writes (profile_sync.writer = 'sync', set by the convergence functions for their
-- own statements) never change an owned field. Hand a field back by setting it to null:
--   update public.user_profiles set display_name = null where user_id = '…';   -- also works for the user
--   update public.user_profiles set attributes = null where user_id = '…';
--   update public.user_profiles set is_active = null where user_id = '…';      -- or = true: an admin re-activates
-- The field then takes the value auth.users implies at once, and follows it again.
create or replace function profile_sync.before_profile_update()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  if pg_catalog.current_setting('profile_sync.writer', true) = 'sync' then
    new.owned_fields := old.owned_fields;
    if old.owned_fields @> '{display_name}' then new.display_name := old.display_name; end if;
    if old.owned_fields @> '{is_active}' then new.is_active := old.is_active; end if;
    if old.owned_fields @> '{attributes}' then new.attributes := old.attributes; end if;
  end if;
  return new;
end
$$;

-- A user or an admin set one field (TG_ARGV[0]) of a profile, or inserted a profile: what they set is theirs,
-- null hands the field back (it takes the value auth.users implies). An insert owns only what differs from that.
-- Security definer: a signed-in user handing back their display name cannot read auth.users themselves.
create or replace function profile_sync.take_ownership()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  field text := tg_argv[0];
  derived profile_sync.derived_profiles;
  owns boolean;
begin
  select d.* into derived from profile_sync.derived_profiles d where d.user_id = new.user_id;
  case field
    when 'display_name' then
      owns := new.display_name is not null and (tg_op = 'UPDATE' or new.display_name is distinct from derived.display_name);
      -- The constraint holds the rule; this says it in words, to whoever wrote the name (a user through the Data API).
      if owns and new.display_name is distinct from profile_sync.plain_display_name(new.display_name) then
        raise exception 'display_name must be 1 to 200 characters, with no space at either end, no space but U+0020 and no invisible character (control, format, private-use, line or paragraph separator; a zero-width joiner only between two emoji)'
          using errcode = 'check_violation', schema = 'public', table = 'user_profiles', column = 'display_name',
                constraint = 'user_profiles_display_name_check';
      end if;
      new.display_name := case when owns then new.display_name else derived.display_name end;
    when 'is_active' then
      -- Deactivating is an admin's choice; activating (or null) hands the flag back to bans and soft deletes.
      owns := new.is_active is not null and not new.is_active;
      new.is_active := case when owns then false else coalesce(derived.is_active, true) end;
    when 'attributes' then
      owns := new.attributes is not null and (tg_op = 'UPDATE' or new.attributes is distinct from derived.attributes);
      new.attributes := case when owns then new.attributes else coalesce(derived.attributes, profile_sync.default_attributes()) end;
  end case;
  new.owned_fields := pg_catalog.array_remove(new.owned_fields, field) || case when owns then array[field] else '{}'::text[] end;
  return new;
end
$$;

revoke all on function profile_sync.before_profile_update() from public, anon, authenticated, service_role;
revoke all on function profile_sync.take_ownership() from public, anon, authenticated, service_role;

create or replace trigger user_profiles_before_update
  before update on public.user_profiles
  for each row execute function profile_sync.before_profile_update();
-- One trigger per field: "update of <field>" fires only when a statement sets that field, even to its old value.
create or replace trigger user_profiles_own_display_name
  before insert or update of display_name on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) is distinct from 'sync')
  execute function profile_sync.take_ownership('display_name');
create or replace trigger user_profiles_own_is_active
  before insert or update of is_active on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) is distinct from 'sync')
  execute function profile_sync.take_ownership('is_active');
create or replace trigger user_profiles_own_attributes
  before insert or update of attributes on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) is distinct from 'sync')
  execute function profile_sync.take_ownership('attributes');

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

-- Column privileges do the rest: a signed-in user may change display_name and nothing else; anon nothing. Supabase's
-- default privileges give the API roles ALL on new tables in public, TRUNCATE, REFERENCES and TRIGGER included; the
-- service role needs to read and write rows, nothing more (TRUNCATE would bypass row-level security and every trigger
-- that keeps ownership).
revoke all on public.user_profiles from public, anon, authenticated, service_role;
grant select, update (display_name) on public.user_profiles to authenticated;
grant select, insert, update, delete on public.user_profiles to service_role;
