-- ProfileFunctions: public.user_profiles, one row per auth user, and ownership (derived until owned).
-- New, or the original setup's table upgraded in place, in a short transaction that changes the catalog only: the
-- columns, their defaults, the ownership triggers and the privileges. Signups keep flowing: the original setup's
-- trigger (create_user_profile_trigger) still inserts here until …_auth_users.sql retires it, so nothing is added that
-- its rows could break. The rows from before are decided and checked in batches by …_user_profiles_backfill.sql; the
-- key of a table without one comes from …_user_profiles_key.sql, the policies from …_user_profiles_policies.sql.
-- If it cannot lock the table in time, it fails saying so: run it again.
set local lock_timeout = '1s';

create table if not exists public.user_profiles (user_id uuid primary key);

-- A table from before without a key on user_id gets one built concurrently (…_user_profiles_key.sql); two rows for
-- one user would make that build fail, so they are refused here, with how to fix them. An index an interrupted build
-- left invalid goes, to be built again.
do $$
declare
  duplicates bigint;
begin
  if exists (select 1 from pg_catalog.pg_index i
             where i.indexrelid = pg_catalog.to_regclass('public.user_profiles_pkey') and not i.indisvalid) then
    drop index public.user_profiles_pkey;
  end if;
  if not exists (
    select 1 from pg_catalog.pg_index i
    where i.indrelid = 'public.user_profiles'::regclass and i.indisunique and i.indisvalid and i.indpred is null
      and i.indkey::int2[] = array[(select a.attnum from pg_catalog.pg_attribute a
                                    where a.attrelid = 'public.user_profiles'::regclass and a.attname = 'user_id')]
  ) then
    select count(*) into duplicates
    from (select p.user_id from public.user_profiles p group by p.user_id having count(*) > 1) d;
    if duplicates > 0 then
      raise exception 'public.user_profiles has % user ids with more than one row', duplicates
        using hint = 'Keep one row per user_id (select user_id from public.user_profiles group by 1 having count(*) > 1), then run the migrations again.';
    end if;
  end if;
end $$;

-- A migration that changes the catalog of tables the auth server writes takes ACCESS EXCLUSIVE on them until its
-- commit, and signups queue behind a request for such a lock. So a file takes every lock it needs first, in the
-- order given (the auth server's tables before the profiles, as a signup takes them), each try waiting at most
-- lock_timeout and letting go of all it took when one is not granted, then trying again after a pause: signups wait
-- for a moment, never for a long transaction, and a signup that holds one table while waiting for another is never
-- the one a deadlock check cancels. After its last try it fails: run the file again. A table that does not exist, or
-- that the caller may not lock, is left to the statement that needs it.
create or replace function profile_sync.lock_briefly(tables text[])
returns void
language plpgsql
set search_path = ''
as $$
declare
  name text;
begin
  for attempt in 1 .. 20 loop
    begin
      foreach name in array tables loop
        if pg_catalog.to_regclass(name) is not null then
          begin
            execute pg_catalog.format('lock table %s in access exclusive mode', pg_catalog.to_regclass(name));
          exception when insufficient_privilege then
            null;
          end;
        end if;
      end loop;
      return; -- the block's subtransaction commits: the locks are the transaction's until it ends
    exception when lock_not_available then
      -- The block's subtransaction is rolled back: every lock it took is released before the next try.
      perform pg_catalog.pg_sleep(0.1 + pg_catalog.random() * 0.2);
    end;
  end loop;
  raise exception 'could not lock % in time', pg_catalog.array_to_string(tables, ', ')
    using errcode = 'lock_not_available', hint = 'Run the migration again (supabase db push again).';
end
$$;
revoke all on function profile_sync.lock_briefly(text[]) from public, anon, authenticated, service_role;

-- The table's own changes need it alone.
create or replace function profile_sync.lock_user_profiles()
returns void
language sql
set search_path = ''
as $$ select profile_sync.lock_briefly(array['public.user_profiles']) $$;
revoke all on function profile_sync.lock_user_profiles() from public, anon, authenticated, service_role;
select profile_sync.lock_user_profiles();

-- Each column once, added where missing (an older table lacks some). Nullable and without a volatile default, so
-- adding them rewrites nothing; NOT NULL and the checks come once the rows from before are filled in
-- (…_user_profiles_backfill.sql).
alter table public.user_profiles
  add column if not exists email text,
  add column if not exists display_name text,
  add column if not exists is_active boolean,
  add column if not exists attributes jsonb,
  add column if not exists created_via text,
  add column if not exists created_at timestamptz,
  add column if not exists updated_at timestamptz,
  add column if not exists source_updated_at timestamptz,
  -- Null until decided (profile_sync.owned_before); its default, '{}', comes with the backfill, after the original
  -- trigger has gone: a row that trigger inserts is decided like the others from before.
  add column if not exists owned_fields text[],
  alter column is_active set default true,
  alter column attributes set default profile_sync.default_attributes(),
  alter column created_at set default pg_catalog.now(),
  alter column updated_at set default pg_catalog.now();

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
  'Fields a user or an admin set (display_name, is_active, attributes): no sync path changes them. Set a field to null to hand it back. '
  'Null only on a row from before ProfileFunctions that is not decided yet (profile_sync.owned_before).';


-- Transaction-local settings: how this product's functions and triggers tell each other what the current transaction
-- is doing. Each is set with set_config(…, true), so it ends with the transaction and rolls back with a savepoint; a
-- missing setting reads as null, the same as ''. Only this product's functions set them; reading one is all a trigger's
-- WHEN does (a function call there would cost every row written).
--   profile_sync.writer                  who writes public.user_profiles now: 'sync' (the convergence functions, for
--                                        their own statements: the ownership triggers let derived values through and
--                                        keep owned fields), 'upgrade' (the backfill of rows from before, written as
--                                        decided), else a user or an admin (their values become theirs).
--   profile_sync.changed_users           the auth user this transaction changed, or '*' once it changed a second
--                                        one (set by profile_sync.note_write_needs_event; read by the token hook,
--                                        which then reads what the profile will be rather than what is committed).
--   profile_sync.waiting_event           the user whose event waits for the commit (set by note_write_needs_event,
--                                        cleared by profile_sync.on_auth_user_change when it runs): while it is set,
--                                        this user's later writes queue no event of their own.
--   profile_sync.changed_users_buffered  'on' once pg_temp.profile_sync_changed_users holds the other users this
--                                        transaction changed, which the waiting event converges all at once.

-- Rows from before: what was somebody's choice stays theirs (owned); what a formula wrote is derived and follows
-- today's mapping from the next convergence. A value is owned when it differs both from what auth.users implies today
-- and from what the original setup's trigger (create_user_profile_trigger) and one-off backfill wrote:
-- display_name = coalesce(metadata display_name, email), and attributes = their defaults plus a created_via key
-- ("auth_trigger" from the trigger, "manual_fix" from the backfill). An inactive flag that a lapsed ban or a soft
-- delete explains is sync's own and heals. A missing value is nobody's choice. The backfill decides every row from
-- before in batches; a write that meets a row not decided yet decides it first, from the row as it was.
-- original_name is what the original formula gives for the user, inactive_explained whether a ban or a soft delete
-- (lapsed or not) explains an inactive flag.
create or replace function profile_sync.chosen_before(
  profile public.user_profiles, derived profile_sync.derived_profiles, original_name text, inactive_explained boolean)
returns text[]
language sql stable
set search_path = ''
as $$
  select pg_catalog.array_remove(array[
    case when profile.display_name is not null and profile.display_name is distinct from derived.display_name
              and profile.display_name is distinct from original_name
         then 'display_name' end,
    case when profile.is_active is not null and not profile.is_active and not inactive_explained then 'is_active' end,
    case when profile.attributes is not null and profile.attributes is distinct from derived.attributes
              and profile.attributes not in (
                select '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}'::jsonb
                       operator(pg_catalog.||) v.via
                from (values ('{}'::jsonb), ('{"created_via":"auth_trigger"}'), ('{"created_via":"manual_fix"}')) v(via))
         then 'attributes' end
  ], null)
$$;

-- What a row from before owns, reading its user (none: the user is gone, and nothing is owned). Security definer: it
-- reads auth.users for whichever writer meets the row.
create or replace function profile_sync.owned_before(profile public.user_profiles)
returns text[]
language sql stable security definer
set search_path = ''
as $$
  select coalesce((
    select profile_sync.chosen_before(profile, d, coalesce(u.raw_user_meta_data ->> 'display_name', u.email::text),
                                     u.banned_until is not null or u.deleted_at is not null)
    from profile_sync.derived_profiles d join auth.users u on u.id = d.user_id
    where d.user_id = profile.user_id), '{}')
$$;

-- Ownership: derived until owned, kept by triggers on this table so that it holds whoever writes: the Data API, the
-- SQL editor, the service role. Sync writes (profile_sync.writer = 'sync', see the transaction-local settings above)
-- never change an owned field. The backfill of rows from before writes as 'upgrade': what it decides
-- is written as it is. Hand a field back by setting it to null:
--   update public.user_profiles set display_name = null where user_id = '…';   -- also works for the user
--   update public.user_profiles set attributes = null where user_id = '…';
--   update public.user_profiles set is_active = null where user_id = '…';      -- or = true: an admin re-activates
-- The field then takes the value auth.users implies at once, and follows it again.
create or replace function profile_sync.before_profile_update()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  writer text := pg_catalog.current_setting('profile_sync.writer', true);
begin
  if writer = 'upgrade' then
    return new;
  end if;
  new.updated_at := pg_catalog.now();
  if writer = 'sync' then
    new.owned_fields := coalesce(old.owned_fields, profile_sync.owned_before(old));
    if new.owned_fields @> '{display_name}' then new.display_name := old.display_name; end if;
    if new.owned_fields @> '{is_active}' then new.is_active := old.is_active; end if;
    if new.owned_fields @> '{attributes}' then new.attributes := old.attributes; end if;
  end if;
  return new;
end
$$;

-- A user or an admin set one field (TG_ARGV[0]) of a profile, or inserted a profile: what they set is theirs,
-- null hands the field back (it takes the value auth.users implies). An insert owns only what differs from that.
-- A row from before not decided yet is decided first, from what it held; a row inserted without owned_fields while
-- the column has no default yet (by the original trigger, during the upgrade) is left for the backfill to decide.
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
  if new.owned_fields is null then
    if tg_op = 'INSERT' then
      return new;
    end if;
    new.owned_fields := coalesce(old.owned_fields, profile_sync.owned_before(old));
  end if;
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

revoke all on function profile_sync.chosen_before(public.user_profiles, profile_sync.derived_profiles, text, boolean)
  from public, anon, authenticated, service_role;
revoke all on function profile_sync.owned_before(public.user_profiles) from public, anon, authenticated, service_role;
revoke all on function profile_sync.before_profile_update() from public, anon, authenticated, service_role;
revoke all on function profile_sync.take_ownership() from public, anon, authenticated, service_role;

create or replace trigger user_profiles_before_update
  before update on public.user_profiles
  for each row execute function profile_sync.before_profile_update();
-- One trigger per field: "update of <field>" fires only when a statement sets that field, even to its old value.
create or replace trigger user_profiles_own_display_name
  before insert or update of display_name on public.user_profiles
  for each row when (coalesce(pg_catalog.current_setting('profile_sync.writer', true), '') not in ('sync', 'upgrade'))
  execute function profile_sync.take_ownership('display_name');
create or replace trigger user_profiles_own_is_active
  before insert or update of is_active on public.user_profiles
  for each row when (coalesce(pg_catalog.current_setting('profile_sync.writer', true), '') not in ('sync', 'upgrade'))
  execute function profile_sync.take_ownership('is_active');
create or replace trigger user_profiles_own_attributes
  before insert or update of attributes on public.user_profiles
  for each row when (coalesce(pg_catalog.current_setting('profile_sync.writer', true), '') not in ('sync', 'upgrade'))
  execute function profile_sync.take_ownership('attributes');

-- Row-level security: the policies are in …_user_profiles_policies.sql, in a transaction of their own.
alter table public.user_profiles enable row level security;

-- Column privileges do the rest: a signed-in user may change display_name and nothing else; anon nothing. Supabase's
-- default privileges give the API roles ALL on new tables in public, TRUNCATE, REFERENCES and TRIGGER included; the
-- service role needs to read and write rows, nothing more (TRUNCATE would bypass row-level security and every trigger
-- that keeps ownership).
revoke all on public.user_profiles from public, anon, authenticated, service_role;
grant select, update (display_name) on public.user_profiles to authenticated;
grant select, insert, update, delete on public.user_profiles to service_role;
