-- ProfileFunctions: convergence. auth.users is the truth; every path (webhook, replay, reconcile timer, fallback
-- trigger) ends in one statement that makes each profile what auth.users, the defaults and the ownership rules
-- imply, and writes nothing when nothing differs.
--
-- Ownership: derived until owned. `email` always follows auth.users. `display_name`, `is_active` and `attributes`
-- follow auth.users and the defaults until a user (display_name, through the Data API), an admin or the service
-- role sets them; from then on they are listed in `owned_fields` and no sync path touches them.
-- Hand a field back by setting it to null:
--   update public.user_profiles set display_name = null where user_id = '…';   -- also works for the user
--   update public.user_profiles set attributes = null where user_id = '…';
--   update public.user_profiles set is_active = null where user_id = '…';      -- or = true: an admin re-activates
-- The field then takes the value auth.users implies at once, and follows it again.

-- The one mapping from an auth user to the profile fields it implies. A view, not functions: its names and
-- operators are bound when it is created (no search_path can redirect them) and the planner inlines it.
create or replace view profile_sync.derived_profiles as
select
  u.id as user_id,
  u.email::text as email,
  coalesce(
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'display_name'), ''),
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'full_name'), ''),
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'name'), ''),
    nullif(pg_catalog.btrim(u.email), ''),
    nullif(pg_catalog.btrim(u.phone), '')) as display_name,
  u.deleted_at is null and (u.banned_until is null or u.banned_until <= pg_catalog.now()) as is_active,
  -- An uncorrelated subquery: the defaults are read once per statement, not once per user.
  coalesce((select s.default_attributes from profile_sync.settings s where s.singleton), '{}'::jsonb) as attributes,
  u.updated_at as source_updated_at,
  u.created_at
from auth.users u;
revoke all on profile_sync.derived_profiles from public, anon, authenticated, service_role;

-- Ownership markers: which fields a user or an admin owns.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_attribute a
                 where a.attrelid = 'public.user_profiles'::regclass and a.attname = 'owned_fields' and not a.attisdropped) then
    alter table public.user_profiles
      add column owned_fields text[] not null default '{}'
        constraint user_profiles_owned_fields_check
        check (owned_fields operator(pg_catalog.<@) array['display_name', 'is_active', 'attributes']);
    -- Rows from before: whatever differs from what auth.users implies was set by someone, so it stays theirs.
    -- An inactive flag that a lapsed ban or a soft delete explains is sync's own and heals.
    update public.user_profiles p
    set owned_fields = o.fields
    from (
      select p.user_id, array_remove(array[
               case when p.display_name is not null and p.display_name is distinct from d.display_name then 'display_name' end,
               case when not p.is_active and u.banned_until is null and u.deleted_at is null then 'is_active' end,
               case when p.attributes is distinct from d.attributes then 'attributes' end
             ], null) as fields
      from public.user_profiles p
      join profile_sync.derived_profiles d on d.user_id = p.user_id
      join auth.users u on u.id = p.user_id
    ) o
    where o.user_id = p.user_id and o.fields <> '{}';
  end if;
end $$;
comment on column public.user_profiles.owned_fields is
  'Fields a user or an admin set (display_name, is_active, attributes): no sync path changes them. Set a field to null to hand it back.';
comment on column public.user_profiles.attributes is
  'Role, department, permissions, access level: profile_sync.settings defaults until an admin or the service role sets them.';
comment on column public.user_profiles.display_name is
  'First of user metadata display_name, full_name, name, then email, then phone; until the user or an admin sets it.';
comment on column public.user_profiles.is_active is
  'False while the auth user is banned or soft-deleted, or when an admin deactivated the profile.';
comment on column public.user_profiles.source_updated_at is 'auth.users.updated_at when the profile last changed to follow it.';

-- Each auth user with what its profile should be and which fields of it are stale. Owned fields are never stale.
create or replace view profile_sync.profile_state as
select
  d.user_id, d.email, d.display_name, d.is_active, d.attributes, d.source_updated_at, d.created_at,
  p.user_id is not null as has_profile,
  case when p.user_id is null then '{}'::text[] else array_remove(array[
    case when p.email is distinct from d.email then 'email' end,
    case when not p.owned_fields @> '{display_name}' and p.display_name is distinct from d.display_name then 'display_name' end,
    case when not p.owned_fields @> '{is_active}' and p.is_active is distinct from d.is_active then 'is_active' end,
    case when not p.owned_fields @> '{attributes}' and p.attributes is distinct from d.attributes then 'attributes' end
  ], null) end as stale_fields
from profile_sync.derived_profiles d
left join public.user_profiles p on p.user_id = d.user_id;
revoke all on profile_sync.profile_state from public, anon, authenticated, service_role;

-- The convergence statement, for a set of user ids: creates what is missing, refreshes what is stale, removes
-- profiles whose user is gone; writes nothing when nothing differs. One row per id with what it did (or, on a
-- dry run, would do): created, updated, deleted, unchanged, or absent (neither a user nor a profile).
-- Takes no locks of its own: profile_sync.converge() is the entry point; the fallback trigger calls this
-- directly, inside the signup's transaction.
create or replace function profile_sync.converge_now(user_ids uuid[], via text, dry_run boolean default false)
returns table (user_id uuid, outcome text)
language plpgsql security definer
set search_path = ''
-- Planned once per session, not per call: planning this statement costs more than running it for one user (the
-- fallback trigger's case), and the plan is linear in the number of ids whatever it is.
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  -- What sync writes is not a user's or an admin's choice: the ownership triggers let it through.
  perform pg_catalog.set_config('profile_sync.writer', 'sync', true);
  return query
  -- Joins on the ids, never "= any(user_ids)": a filter over a large array costs ids x rows.
  with ids as (
    select distinct x.id from pg_catalog.unnest(user_ids) x(id) where x.id is not null
  ), target as (
    select s.* from ids i join profile_sync.profile_state s on s.user_id = i.id
  ), orphans as (
    select p.user_id from ids i join public.user_profiles p on p.user_id = i.id
    where not exists (select 1 from auth.users u where u.id = p.user_id)
  ), created as (
    insert into public.user_profiles as p (user_id, email, display_name, is_active, attributes, source_updated_at, created_via)
    select t.user_id, t.email, t.display_name, t.is_active, t.attributes, t.source_updated_at, via
    from target t
    where not t.has_profile and not dry_run
    on conflict (user_id) do nothing
    returning p.user_id
  ), refreshed as (
    -- All fields are written; the guard trigger keeps owned ones as they are, even if an admin changed one
    -- while this statement waited for the row.
    update public.user_profiles p
    set email = t.email, display_name = t.display_name, is_active = t.is_active, attributes = t.attributes,
        source_updated_at = t.source_updated_at
    from target t
    where p.user_id = t.user_id and t.stale_fields <> '{}' and not dry_run
    returning p.user_id
  ), removed as (
    delete from public.user_profiles p
    using orphans o
    where p.user_id = o.user_id and not dry_run
    returning p.user_id
  )
  -- Outcomes through hashed subplans, never joins on the CTEs: whatever the planner guesses of the ids' number,
  -- this stays linear (a nested loop over CTE scans is quadratic in a batch of 10,000).
  select t.user_id, case
      when not t.has_profile then case when dry_run or t.user_id in (select c.user_id from created c) then 'created' else 'unchanged' end
      when t.stale_fields <> '{}' and (dry_run or t.user_id in (select f.user_id from refreshed f)) then 'updated'
      else 'unchanged'
    end
  from target t
  union all
  select i.id, case when i.id in (select o.user_id from orphans o) and (dry_run or i.id in (select r.user_id from removed r))
                    then 'deleted' else 'absent' end
  from ids i
  where i.id not in (select t.user_id from target t);
  perform pg_catalog.set_config('profile_sync.writer', '', true);
end
$$;

-- The entry point of the webhook and replay. Convergences of the same users take turns: each one's statement then
-- reads auth.users after the previous one committed, so the last to write always wrote the newest truth, in any
-- order of deliveries. Users share 1024 lock buckets, taken in order (no deadlock among convergences).
create or replace function profile_sync.converge(user_ids uuid[], via text, dry_run boolean default false)
returns table (user_id uuid, outcome text)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if not dry_run then
    perform pg_catalog.pg_advisory_xact_lock(1347571270, b.bucket) -- 1347571270: "PROF"
    from (select distinct pg_catalog.hashtext(x.id::text) operator(pg_catalog.&) 1023 as bucket
          from pg_catalog.unnest(user_ids) x(id) order by 1) b;
  end if;
  return query select c.user_id, c.outcome from profile_sync.converge_now(user_ids, via, dry_run) c;
end
$$;

-- Everything at once, for SQL-only operators (`select * from profile_sync.reconcile();`); profilesync replay
-- does the same in batches, with progress.
create or replace function profile_sync.reconcile(dry_run boolean default false)
returns table (missing bigint, stale bigint, orphaned bigint, created bigint, refreshed bigint, removed bigint)
language sql security definer
set search_path = ''
as $$
  with candidates as (
    select s.user_id, case when not s.has_profile then 'missing' else 'stale' end as drift
    from profile_sync.profile_state s where not s.has_profile or s.stale_fields <> '{}'
    union all
    select p.user_id, 'orphaned' from public.user_profiles p
    where not exists (select 1 from auth.users u where u.id = p.user_id)
  ), converged as (
    select c.outcome from profile_sync.converge((select array_agg(d.user_id) from candidates d), 'replay', dry_run) c
  )
  select (select count(*) from candidates d where d.drift = 'missing'),
         (select count(*) from candidates d where d.drift = 'stale'),
         (select count(*) from candidates d where d.drift = 'orphaned'),
         count(*) filter (where c.outcome = 'created' and not dry_run),
         count(*) filter (where c.outcome = 'updated' and not dry_run),
         count(*) filter (where c.outcome = 'deleted' and not dry_run)
  from converged c
$$;

revoke all on function profile_sync.converge_now(uuid[], text, boolean) from public, anon, authenticated, service_role;
revoke all on function profile_sync.converge(uuid[], text, boolean) from public, anon, authenticated;
revoke all on function profile_sync.reconcile(boolean) from public, anon, authenticated;
grant execute on function profile_sync.converge(uuid[], text, boolean) to service_role;
grant execute on function profile_sync.reconcile(boolean) to service_role;

-- Ownership, kept by triggers on the profile table so that it holds whoever writes: the Data API, the SQL
-- editor, the service role. Sync writes (profile_sync.writer = 'sync') never change an owned field.
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

drop trigger if exists user_profiles_touch_updated_at on public.user_profiles;
drop function if exists profile_sync.touch_updated_at();
drop trigger if exists user_profiles_before_update on public.user_profiles;
create trigger user_profiles_before_update
  before update on public.user_profiles
  for each row execute function profile_sync.before_profile_update();
-- One trigger per field: "update of <field>" fires only when a statement sets that field, even to its old value.
drop trigger if exists user_profiles_own_display_name on public.user_profiles;
create trigger user_profiles_own_display_name
  before insert or update of display_name on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) is distinct from 'sync')
  execute function profile_sync.take_ownership('display_name');
drop trigger if exists user_profiles_own_is_active on public.user_profiles;
create trigger user_profiles_own_is_active
  before insert or update of is_active on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) is distinct from 'sync')
  execute function profile_sync.take_ownership('is_active');
drop trigger if exists user_profiles_own_attributes on public.user_profiles;
create trigger user_profiles_own_attributes
  before insert or update of attributes on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) is distinct from 'sync')
  execute function profile_sync.take_ownership('attributes');

-- The fallback path converges too: on signup (the existing AFTER INSERT trigger) and, from now on, on every
-- change of what a profile follows (e-mail, metadata, bans, soft deletes, confirmation). Sign-ins, which only
-- touch last_sign_in_at and updated_at, do not fire it. A failure never blocks the signup or the update.
create or replace function profile_sync.create_profile_on_signup()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  begin
    if (select s.fallback_trigger_enabled from profile_sync.settings s where s.singleton) is not false then
      perform profile_sync.converge_now(array[new.id], 'auth_trigger');
    end if;
  exception when others then
    -- The block's subtransaction is rolled back: no half-written profile, and the signup goes on.
    -- Replay converges the profile later.
    raise warning 'profile_sync: no profile created for auth user % (SQLSTATE %: %)', new.id, sqlstate, sqlerrm;
  end;
  return null;
end
$$;
revoke all on function profile_sync.create_profile_on_signup() from public, anon, authenticated, service_role;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_on_auth_change') then
    -- The column list is fixed once created (changing a trigger on auth.users needs its owner), so it names every
    -- fact a profile or an attribute rule may follow.
    create trigger profile_sync_on_auth_change
      after update on auth.users
      for each row
      when (old.email is distinct from new.email or old.phone is distinct from new.phone
            or old.raw_user_meta_data is distinct from new.raw_user_meta_data
            or old.raw_app_meta_data is distinct from new.raw_app_meta_data
            or old.email_confirmed_at is distinct from new.email_confirmed_at
            or old.banned_until is distinct from new.banned_until or old.deleted_at is distinct from new.deleted_at)
      execute function profile_sync.create_profile_on_signup();
  end if;
end $$;

-- Retire the trigger of the setup this product replaces, so profiles are not made twice. Dropping a trigger needs
-- auth.users' owner, which postgres is not on hosted Supabase; then the function it calls becomes a no-op that
-- returns what its trigger's kind needs (NEW for BEFORE INSERT/UPDATE, OLD for BEFORE DELETE, NULL for AFTER):
-- a BEFORE trigger that returned NULL would silently cancel every signup.
do $$
declare
  old record;
begin
  for old in
    select t.tgname, n.nspname as fn_schema, p.proname as fn_name
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_proc p on p.oid = t.tgfoid
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal
      and t.tgname = 'create_user_profile_trigger'
  loop
    begin
      execute pg_catalog.format('drop trigger %I on auth.users', old.tgname);
      raise notice 'dropped the old trigger % on auth.users', old.tgname;
      begin
        execute pg_catalog.format('drop function %I.%I()', old.fn_schema, old.fn_name);
      exception when dependent_objects_still_exist or insufficient_privilege then
        null; -- still used elsewhere, or not ours: leave it
      end;
    exception when insufficient_privilege then
      begin
        execute pg_catalog.format(
          'create or replace function %I.%I() returns trigger language plpgsql set search_path = '''' as %L',
          old.fn_schema, old.fn_name,
          'begin -- retired by ProfileFunctions: profile_sync.create_profile_on_signup does this now
             if tg_level = ''ROW'' and tg_when = ''BEFORE'' then
               if tg_op = ''DELETE'' then return old; end if;
               return new;
             end if;
             return null;
           end');
        raise notice 'old trigger % on auth.users now calls a no-op (drop it as the table owner when convenient)', old.tgname;
      exception when insufficient_privilege then
        raise warning 'old trigger % on auth.users still runs %.%(): neither it nor its function is ours to change; '
          'drop it as the owner of auth.users', old.tgname, old.fn_schema, old.fn_name;
      end;
    end;
  end loop;
end $$;

-- The signed webhook's rows: an event is a notification, so it names its user and nothing else. pg_net's queue is
-- readable by every role; no e-mail, phone or metadata sits in it any more.
create or replace function profile_sync.auth_event_row(u auth.users)
returns jsonb
language sql stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object('id', u.id)
$$;

-- Replaced by the views and profile_sync.converge() above.
drop function if exists profile_sync.create_missing_profiles();
drop view if exists profile_sync.auth_user_profiles;
drop function if exists profile_sync.display_name(jsonb, text, text);
drop function if exists profile_sync.is_active(timestamptz, timestamptz);
