-- ProfileFunctions: drift and convergence.
-- auth.users is the truth; every path makes each profile what profile_state says it should be through one write
-- (convergence_write), which writes nothing when nothing differs: the webhook, a replay of ids and the reconcile through
-- converge, the fallback trigger for one user through converge_user (both run converge_without_locks), a bulk statement
-- on auth.users through converge_changed, a replay of everyone through converge_range. Drift (what is missing, stale
-- or orphaned) is defined here once; status, replay and reconcile read it by column name.

-- Each auth user with what its profile should be: what auth.users, the defaults and the rules imply
-- (derived_profiles) with the fields a user or an admin owns over it. The one place that rule is read: every write,
-- the token hook and explain read it here. A profile from before that the backfill has not decided yet (owned_fields
-- null) keeps every field as it is until it is decided. Also whether the user has a profile, and which of its fields
-- are stale (never an owned one).
--   fingerprint_current  the profile's source_fingerprint is the one its user's facts give now
--                        (derived_profiles.fingerprint; false when either is null): its derived fields are what those
--                        facts imply, so a pass over everyone (users_drift, users_to_converge) derives it no further.
--                        Convergence does not rely on it: it derives every profile it is given.
--   fingerprint_stale    the profile's source_fingerprint is not that one, whether or not a field differs: a
--                        convergence writes it (with the fields), so that the next pass need not derive the profile
create or replace view profile_sync.profile_state as
select
  d.user_id, d.email,
  case when owns.display_name then p.display_name else d.display_name end as display_name,
  case when owns.is_active then p.is_active else d.is_active end as is_active,
  case when owns.attributes then p.attributes else d.attributes end as attributes,
  d.source_updated_at, d.created_at,
  p.user_id is not null as has_profile,
  case when p.user_id is null then '{}'::text[] else array_remove(array[
    case when p.email is distinct from d.email then 'email' end,
    case when not owns.display_name and p.display_name is distinct from d.display_name then 'display_name' end,
    case when not owns.is_active and p.is_active is distinct from d.is_active then 'is_active' end,
    case when not owns.attributes and p.attributes is distinct from d.attributes then 'attributes' end
  ], null) end as stale_fields,
  d.fingerprint,
  -- Never null; and a user without a profile pays for no fingerprint here.
  case when p.source_fingerprint is null then false else coalesce(p.source_fingerprint = d.fingerprint, false) end
    as fingerprint_current,
  p.user_id is not null and p.source_fingerprint is distinct from d.fingerprint as fingerprint_stale,
  p.owned_fields
from profile_sync.derived_profiles d
left join public.user_profiles p on p.user_id = d.user_id
cross join lateral (select coalesce(p.owned_fields @> '{display_name}', p.user_id is not null) as display_name,
                           coalesce(p.owned_fields @> '{is_active}', p.user_id is not null) as is_active,
                           coalesce(p.owned_fields @> '{attributes}', p.user_id is not null) as attributes) owns;
revoke all on profile_sync.profile_state from public, anon, authenticated, service_role;

-- A profile changed by anyone but sync (the Data API, the SQL editor, the service role) may hold anything: its
-- fingerprint goes, and the next pass derives it again. A row inserted (a restore) keeps the fingerprint it comes with,
-- which was written with its fields.
create or replace function profile_sync.forget_source_fingerprint()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.source_fingerprint := null;
  return new;
end
$$;
revoke all on function profile_sync.forget_source_fingerprint() from public, anon, authenticated, service_role;
create or replace trigger user_profiles_forget_source_fingerprint
  before update on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) is distinct from 'sync')
  execute function profile_sync.forget_source_fingerprint();

-- A convergence that writes only the fingerprint changes nothing anyone sees: the profile keeps its updated_at (which
-- profile_sync.before_profile_update, before this, set to now). Its name sorts after user_profiles_before_update's.
create or replace function profile_sync.keep_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := old.updated_at;
  return new;
end
$$;
revoke all on function profile_sync.keep_updated_at() from public, anon, authenticated, service_role;
create or replace trigger user_profiles_fingerprint_only
  before update on public.user_profiles
  for each row when (pg_catalog.current_setting('profile_sync.writer', true) = 'sync'
                     and (new.email, new.display_name, new.is_active, new.attributes, new.owned_fields)
                         is not distinct from (old.email, old.display_name, old.is_active, old.attributes, old.owned_fields))
  execute function profile_sync.keep_updated_at();

-- Profiles whose auth user is gone (left from before the foreign key, or made while it was not valid).
create or replace view profile_sync.orphaned_profiles as
select p.user_id, p.created_at
from public.user_profiles p
where not exists (select 1 from auth.users u where u.id = p.user_id);
revoke all on profile_sync.orphaned_profiles from public, anon, authenticated, service_role;

-- Drift: one row per user whose profile is missing or stale, and per profile whose user is gone.
--   kind          missing, stale or orphaned
--   stale_fields  for stale profiles, the fields that differ (email, display_name, is_active, attributes)
--   since         about when it began: the user's creation (missing), last change (stale), the profile's creation (orphaned)
-- The users' part alone first: status and reconcile count orphans before they search for them (profile_sync.totals).
-- In sync, a profile costs its fingerprint (profile_state.fingerprint_current).
create or replace view profile_sync.users_drift as
select s.user_id, case when s.has_profile then 'stale' else 'missing' end as kind, s.stale_fields,
       case when s.has_profile then s.source_updated_at else s.created_at end as since
from profile_sync.profile_state s
where not s.has_profile or (not s.fingerprint_current and s.stale_fields <> '{}');
revoke all on profile_sync.users_drift from public, anon, authenticated, service_role;

-- What a reconcile converges: the users' drift, and the profiles that hold every field as it should be but not the
-- current fingerprint (kind 'outdated': after a change of the rules or defaults, or of a fact no field shows, or a
-- write by someone else), whose fingerprint it writes so that the next pass does not derive them again. Not drift:
-- nothing a user sees differs.
create or replace view profile_sync.users_to_converge as
select s.user_id, case when not s.has_profile then 'missing' when s.stale_fields <> '{}' then 'stale' else 'outdated' end as kind
from profile_sync.profile_state s
where not s.has_profile or (not s.fingerprint_current and (s.stale_fields <> '{}' or s.fingerprint_stale));
revoke all on profile_sync.users_to_converge from public, anon, authenticated, service_role;

create or replace view profile_sync.drift as
select d.user_id, d.kind, d.stale_fields, d.since
from profile_sync.users_drift d
union all
select o.user_id, 'orphaned', '{}', o.created_at
from profile_sync.orphaned_profiles o;
revoke all on profile_sync.drift from public, anon, authenticated, service_role;

-- How many users and profiles there are and how many profiles belong to no user, given how many users have none
-- (counted by the caller from users_drift, in the same snapshot: the function is stable). A profile per user at most
-- (the primary key), so the orphans are all profiles but those of the users that have one: counted, status and
-- reconcile search for them only when there are some, which in sync spares a second join of every profile with every
-- user.
-- Parallel safe, as failed_summary: a function that is not would keep status's whole statement, its pass over users and
-- profiles included, from running with parallel workers.
create or replace function profile_sync.totals(missing bigint)
returns table (users bigint, profiles bigint, orphaned bigint)
language sql stable parallel safe
set search_path = ''
as $$
  select u.users, p.profiles, p.profiles - (u.users - missing)
  from (select count(*) as users from auth.users) u, (select count(*) as profiles from public.user_profiles) p
$$;
revoke all on function profile_sync.totals(bigint) from public, anon, authenticated, service_role;

-- Users whose profile a convergence could not write: a constraint refused it (this table's own or one a project
-- added), or a project's trigger failed. The pass that meets one sets the user aside here and goes on with everyone
-- else; status and explain show it (profile_sync.failed_profiles) until the user's profile converges, and a replay or
-- reconcile then forgets it. What failed, never the row it failed on, which holds personal data.
create table if not exists profile_sync.convergence_failures (
  user_id uuid primary key,
  failed_at timestamptz not null default pg_catalog.now(),
  via text not null,
  sqlstate text not null,
  constraint_name text,
  message text not null
);
comment on table profile_sync.convergence_failures is
  'Users whose profile a convergence could not write, set aside so that every other user converges: when, by which '
  'path, and what refused it. Kept by the convergence functions; see profile_sync.failed_profiles.';
alter table profile_sync.convergence_failures enable row level security;
revoke all on profile_sync.convergence_failures from public, anon, authenticated, service_role;

-- Whether an error is the database's rather than one row's: a pass stops on it, to be run again (connections,
-- transaction state, serialization failures and deadlocks, resources, locks and objects in use, an operator's
-- intervention, system and internal errors). Any other error is about the row being written: its user is set aside.
create or replace function profile_sync.is_database_failure(state text)
returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select pg_catalog.left(state, 2) in ('08', '25', '40', '53', '55', '57', '58', 'XX')
$$;
revoke all on function profile_sync.is_database_failure(text) from public, anon, authenticated, service_role;

-- Sets a user aside: the latest failure is kept.
create or replace function profile_sync.set_aside(user_id uuid, via text, state text, constraint_name text, message text)
returns void
language sql
set search_path = ''
as $$
  insert into profile_sync.convergence_failures as f (user_id, via, sqlstate, constraint_name, message)
  values (set_aside.user_id, set_aside.via, set_aside.state, nullif(set_aside.constraint_name, ''), set_aside.message)
  on conflict (user_id) do update
  set failed_at = pg_catalog.now(), via = excluded.via, sqlstate = excluded.sqlstate,
      constraint_name = excluded.constraint_name, message = excluded.message
$$;
revoke all on function profile_sync.set_aside(uuid, text, text, text, text) from public, anon, authenticated, service_role;

-- The users set aside whose profile still drifts (a later write through the fallback may have converged it since),
-- with why, in words: what status and explain show.
create or replace view profile_sync.failed_profiles as
select f.user_id, f.failed_at, f.via, f.sqlstate, f.constraint_name, f.message,
       'SQLSTATE ' || f.sqlstate || coalesce(', constraint ' || f.constraint_name, '') as reason
from profile_sync.convergence_failures f
where exists (select 1 from profile_sync.users_drift d where d.user_id = f.user_id)
   or (exists (select 1 from public.user_profiles p where p.user_id = f.user_id)
       and not exists (select 1 from auth.users u where u.id = f.user_id));
revoke all on profile_sync.failed_profiles from public, anon, authenticated, service_role;

-- How many users are set aside, and a few of them with why, newest first (for status). Its own function, planned on its
-- own: in status's statement, which is large enough to be compiled by JIT, this view's plan cost more than it reads.
create or replace function profile_sync.failed_summary(sample_size integer)
returns table (failed bigint, failed_sample uuid[], failed_reasons text[])
language sql stable parallel safe
set search_path = ''
as $$
  with f as materialized (select x.user_id, x.reason, x.failed_at from profile_sync.failed_profiles x)
  select (select count(*) from f),
         array(select f.user_id from f order by f.failed_at desc, f.user_id limit sample_size),
         array(select f.reason from f order by f.failed_at desc, f.user_id limit sample_size)
$$;
revoke all on function profile_sync.failed_summary(integer) from public, anon, authenticated, service_role;

-- Forgets the users set aside once whose profile has converged since (by any path): how many.
create or replace function profile_sync.forget_converged_failures()
returns bigint
language sql
set search_path = ''
as $$
  with forgotten as (
    delete from profile_sync.convergence_failures x
    where not exists (select 1 from profile_sync.failed_profiles f where f.user_id = x.user_id)
    returning 1
  )
  select count(*) from forgotten
$$;
revoke all on function profile_sync.forget_converged_failures() from public, anon, authenticated, service_role;

-- The convergence write: the one definition of what every path inserts, updates and deletes. It follows two CTEs of
-- the path's statement: target (profile_state rows of the users to converge) and orphans (user_id of profiles whose
-- user is gone). Creates the profiles that are missing (created), refreshes the stale ones (refreshed: every field is
-- written, and the ownership triggers keep the owned ones as they are, even if an admin changed one while the statement
-- waited for the row; also where only the fingerprint is outdated, then visible is false) and removes the orphans
-- (removed); writes nothing when nothing differs. Each returns the user_id it wrote. Text, so that each path
-- instantiates it in a statement planned as suits it (converge_without_locks, converge_range, converge_changed):
--   via          the expression for created_via
--   writing      a boolean expression, false on a dry run
--   on_conflict  how the insert meets a profile made since the statement read target ('' or an ON CONFLICT clause)
create or replace function profile_sync.convergence_write(via text, writing text, on_conflict text)
returns text
language sql immutable
set search_path = ''
as $$
  select pg_catalog.format($write$
  created as (
    insert into public.user_profiles as p (user_id, email, display_name, is_active, attributes, source_updated_at,
                                           source_fingerprint, created_via)
    select t.user_id, t.email, t.display_name, t.is_active, t.attributes, t.source_updated_at, t.fingerprint, %1$s
    from target t
    where not t.has_profile and %2$s
    %3$s
    returning p.user_id
  ), refreshed as (
    update public.user_profiles p
    set email = t.email, display_name = t.display_name, is_active = t.is_active, attributes = t.attributes,
        source_updated_at = case when t.stale_fields <> '{}' then t.source_updated_at else p.source_updated_at end,
        source_fingerprint = t.fingerprint
    from target t
    where p.user_id = t.user_id and (t.stale_fields <> '{}' or t.fingerprint_stale) and %2$s
    returning p.user_id, t.stale_fields <> '{}' as visible
  ), removed as (
    delete from public.user_profiles p
    using orphans o
    where p.user_id = o.user_id and %2$s
    returning p.user_id
  )$write$, via, writing, on_conflict)
$$;
revoke all on function profile_sync.convergence_write(text, text, text) from public, anon, authenticated, service_role;

-- The convergence statement, for a set of user ids: creates what is missing, refreshes what is stale, removes
-- profiles whose user is gone; writes nothing when nothing differs. One row per id with what it did (or, on a
-- dry run, would do): created, updated, deleted, unchanged, or absent (neither a user nor a profile). One row that
-- cannot be written fails the whole statement: profile_sync.converge_apart() then sets its user aside.
-- Takes no locks of its own: profile_sync.converge() is the entry point. Created with the convergence write written
-- into its statement, which stays static: planned once per session, not per call.
do $create$
begin
  execute pg_catalog.format($function$
create or replace function profile_sync.converge_without_locks(user_ids uuid[], via text, dry_run boolean default false)
returns table (user_id uuid, outcome text)
language plpgsql security definer
set search_path = ''
-- The plan is linear in the number of ids whatever it is.
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
    select o.user_id from ids i join profile_sync.orphaned_profiles o on o.user_id = i.id
  ), %s
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
$$
$function$, profile_sync.convergence_write('via', 'not dry_run', 'on conflict (user_id) do nothing'));
end
$create$;

-- The entry point of the webhook, replay and reconcile. Convergences of the same users take turns: each one's
-- statement then reads auth.users after the previous one committed, so the last to write always wrote the newest
-- truth, in any order of deliveries. Users share 1024 lock buckets, taken in order (no deadlock among convergences).
create or replace function profile_sync.converge(user_ids uuid[], via text, dry_run boolean default false)
returns table (user_id uuid, outcome text)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if not dry_run then
    perform pg_catalog.pg_advisory_xact_lock(1347571270, b.bucket) -- 1347571270: "PROF"
    from (select distinct pg_catalog.hashtext(x.id::text) & 1023 as bucket
          from pg_catalog.unnest(user_ids) x(id) order by 1) b;
  end if;
  begin
    -- converge_without_locks returns its rows only once its statement has run whole: a failure adds none of them here.
    return query select c.user_id, c.outcome from profile_sync.converge_without_locks(user_ids, via, dry_run) c;
  exception when others then
    if profile_sync.is_database_failure(sqlstate) then
      raise;
    end if;
    return query select c.user_id, c.outcome from profile_sync.converge_apart(user_ids, via, dry_run) c;
  end;
end
$$;

-- After a convergence of these users failed on a row: the convergence statement for them again (in a statement of its
-- own, which sees what others committed meanwhile: a deletion of the user, whose foreign key check failed the write,
-- leaves nothing to write), and if a row still cannot be written, the same for each half of them apart, and so on down
-- to the user whose profile fails, who is set aside (outcome 'failed', a row in convergence_failures): every other
-- user converges, at the cost of a few statements per user set aside. A failure of the database itself
-- (profile_sync.is_database_failure) stops it, to be run again.
create or replace function profile_sync.converge_apart(user_ids uuid[], via text, dry_run boolean)
returns table (user_id uuid, outcome text)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  ids uuid[];
  half integer;
  failed_constraint text;
  failure text;
begin
  begin
    -- As in converge: a failure adds none of converge_without_locks's rows.
    return query select c.user_id, c.outcome from profile_sync.converge_without_locks(user_ids, via, dry_run) c;
  exception when others then
    if profile_sync.is_database_failure(sqlstate) then
      raise;
    end if;
    ids := array(select distinct x.id from pg_catalog.unnest(user_ids) x(id) where x.id is not null order by 1);
    if pg_catalog.cardinality(ids) = 1 then
      get stacked diagnostics failed_constraint = constraint_name, failure = message_text;
      perform profile_sync.set_aside(ids[1], via, sqlstate, failed_constraint, failure);
      return query select ids[1], 'failed'::text;
      return;
    end if;
    half := pg_catalog.cardinality(ids) / 2;
    return query select c.user_id, c.outcome from profile_sync.converge_apart(ids[1:half], via, dry_run) c
                 union all
                 select c.user_id, c.outcome from profile_sync.converge_apart(ids[half + 1:], via, dry_run) c;
  end;
end
$$;

-- The convergence statement for every user whose id is in the range (after, upto], and every profile in it whose user
-- is gone: what a replay of everyone runs, batch by batch. The same mapping (profile_state) and convergence write as
-- converge_without_locks; a range instead of ids makes it the plain statement a one-off backfill would be (the users
-- read by a range of their primary key, written with no per-id lookups or outcomes), near the database's own speed.
-- Takes every lock bucket in order, as converge does for its ids: a batch of thousands of users meets nearly all of
-- them anyway, and then every user the range holds when the statement reads it is covered, a user who signed up
-- meanwhile too. Counts, by the names profile_sync.reconcile() gives them: users, what it found (missing, stale,
-- orphaned), what it did (created, refreshed, removed; 0 on a dry run) and the users it set aside (failed, and a few of
-- them).
create or replace function profile_sync.converge_range(after uuid, upto uuid, via text, dry_run boolean default false)
returns table (users bigint, missing bigint, stale bigint, orphaned bigint, created bigint, refreshed bigint, removed bigint,
               failed bigint, failed_sample uuid[])
language plpgsql security definer
set search_path = ''
-- Each batch reads its users by a range of the primary key and their profiles by key: a hash or merge join would read
-- every profile, in every batch (the planner picks one once the table has grown: quadratic over a replay).
set enable_hashjoin = off
set enable_mergejoin = off
-- Each batch's statement is planned anew: compiling it (JIT) every time cost more than it saved.
set jit = off
as $$
declare
  -- %s: the convergence write, with how its insert meets a profile made since the statement read the range (below).
  statement constant text := $statement$
    with target as materialized (
      select s.* from profile_sync.profile_state s where s.user_id > $1 and s.user_id <= $2
    ), orphans as (
      select o.user_id from profile_sync.orphaned_profiles o where o.user_id > $1 and o.user_id <= $2
    ), %s, cleared as (
      delete from profile_sync.convergence_failures f where f.user_id > $1 and f.user_id <= $2 and not $4
    )
    select count(*), count(*) filter (where not t.has_profile), count(*) filter (where t.stale_fields <> '{}'),
           (select count(*) from orphans), (select count(*) from created), (select count(*) from refreshed r where r.visible),
           (select count(*) from removed)
    from target t
  $statement$;
begin
  if not dry_run then
    perform pg_catalog.pg_advisory_xact_lock(1347571270, b.bucket) from pg_catalog.generate_series(0, 1023) b(bucket);
  end if;
  perform pg_catalog.set_config('profile_sync.writer', 'sync', true); -- transaction-local: …_user_profiles.sql
  failed := 0;
  failed_sample := '{}';
  for attempt in 1 .. 2 loop
    begin
      -- A plain insert: with every bucket held, only a signup's own fallback trigger or an admin's insert can make a
      -- profile in the range meanwhile, and ON CONFLICT's speculative insertion costs every row of a replay.
      -- When one did, the batch again with DO NOTHING.
      execute pg_catalog.format(statement, profile_sync.convergence_write('$3', 'not $4',
                                  case when attempt = 2 then 'on conflict (user_id) do nothing' else '' end))
        into users, missing, stale, orphaned, created, refreshed, removed
        using after, upto, via, dry_run;
      exit;
    exception when others then
      if profile_sync.is_database_failure(sqlstate) then
        raise;
      end if;
      continue when attempt = 1 and sqlstate = '23505';
      -- A row that cannot be written: the range counted as a dry run counts it, then its users converged apart, the
      -- one whose profile fails set aside (profile_sync.converge_apart).
      execute pg_catalog.format(statement, profile_sync.convergence_write('$3', 'not $4', ''))
        into users, missing, stale, orphaned, created, refreshed, removed using after, upto, via, true;
      with done as materialized (
        select c.user_id, c.outcome
        from profile_sync.converge_apart(array(
          select u.id from auth.users u where u.id > after and u.id <= upto
          union all
          select o.user_id from profile_sync.orphaned_profiles o where o.user_id > after and o.user_id <= upto), via, false) c
      )
      select count(*) filter (where d.outcome = 'created'), count(*) filter (where d.outcome = 'updated'),
             count(*) filter (where d.outcome = 'deleted'), count(*) filter (where d.outcome = 'failed'),
             array(select f.user_id from done f where f.outcome = 'failed' order by f.user_id limit 5)
      into created, refreshed, removed, failed, failed_sample
      from done d;
      exit;
    end;
  end loop;
  perform pg_catalog.set_config('profile_sync.writer', '', true);
  return next;
end
$$;

-- One user's convergence, for the fallback trigger inside the auth server's transaction: the convergence statement for
-- one id. Takes no locks of its own: the transaction holds the user's row already.
create or replace function profile_sync.converge_user(uid uuid, via text)
returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  perform from profile_sync.converge_without_locks(array[uid], via);
end
$$;

-- What a reconcile converges (users_to_converge), max_changes + 1 rows at most (all without max_changes). A statement
-- of its own: in reconcile's, which writes, PostgreSQL would plan it without parallel workers. Materialized, so that
-- it is planned for all its rows (a join by hash, as status's) and read only as far as the limit needs: under the
-- limit itself the planner chose a fast-start merge join by both primary keys, twice as slow in sync.
create or replace function profile_sync.users_to_converge_first(max_changes bigint)
returns table (user_id uuid, kind text)
language sql stable parallel safe
set search_path = ''
as $$
  with d as materialized (select c.user_id, c.kind from profile_sync.users_to_converge c)
  select d.user_id, d.kind from d limit max_changes + 1 -- no limit without max_changes
$$;
revoke all on function profile_sync.users_to_converge_first(bigint) from public, anon, authenticated, service_role;

-- The fallback's convergence of many users at once, for a transaction that changed several (an admin's bulk statement
-- on auth.users): the convergence write for those of them that drifted, as one set-based statement. Returns
-- the users it could not converge: none, or those set aside (a row that cannot be written fails the statement:
-- profile_sync.converge_apart then converges them apart, the one whose profile fails set aside). Profiles of deleted
-- users went with them (the foreign key's cascade). Takes no locks of its own, as converge_user: it runs in the
-- transaction that holds the users' rows.
create or replace function profile_sync.converge_changed(user_ids uuid[], via text)
returns uuid[]
language plpgsql security definer
set search_path = ''
-- Each user looked up by key, unless they are a good part of all users (below): then the planner, which knows how many
-- ids it joins (a statement planned for its values), reads both tables whole and joins them by hash, cheaper
-- for an update of everyone. Left to itself for a few thousand ids of a large table, it sorted every user.
set enable_hashjoin = off
set enable_mergejoin = off
as $$
declare
  statement constant text := $statement$
    with target as materialized (
      -- No DISTINCT (a user twice is written once): grouped, the ids would be estimated at a few hundred.
      select s.* from pg_catalog.unnest($1::uuid[]) i(id)
      join profile_sync.profile_state s on s.user_id = i.id
      where not s.has_profile or s.stale_fields <> '{}' or s.fingerprint_stale
    ), orphans as (
      select null::uuid as user_id where false -- the foreign key's cascade removed the profiles of deleted users
    ), %s
    select
  $statement$;
begin
  perform pg_catalog.set_config('profile_sync.writer', 'sync', true); -- transaction-local: …_user_profiles.sql
  if pg_catalog.cardinality(user_ids) * 4 > (select c.reltuples from pg_catalog.pg_class c where c.oid = 'auth.users'::regclass) then
    perform pg_catalog.set_config('enable_hashjoin', 'on', true);
  end if;
  begin
    execute pg_catalog.format(statement, profile_sync.convergence_write('$2', 'true', 'on conflict (user_id) do nothing'))
      using user_ids, via;
  exception when others then
    if profile_sync.is_database_failure(sqlstate) then
      raise;
    end if;
    perform pg_catalog.set_config('profile_sync.writer', '', true);
    return array(select c.user_id from profile_sync.converge_apart(user_ids, via, false) c where c.outcome = 'failed');
  end;
  perform pg_catalog.set_config('profile_sync.writer', '', true);
  return '{}'::uuid[];
end
$$;

-- Everything that drifted, at once: `select * from profile_sync.reconcile();` for SQL-only operators, and the first
-- pass of `profilesync replay` and the reconcile timer (one pass of hash joins over both tables: on a project in sync,
-- that is all there is to do). With max_changes, converges only when no more than that many profiles drifted; else it
-- stops looking as soon as more have, converges nothing and says converged = false, with no counts (replay then goes on
-- in batches, which count; an adoption's first pass is then over in a moment instead of a pass over everyone).
-- missing, stale, orphaned: found; created, refreshed, removed: done (0 on a dry run); failed: the users set aside,
-- whose profile could not be written (every other user converged), and a few of them. Profiles whose only difference
-- is an outdated fingerprint (profile_sync.users_to_converge) are written too, counted in none of these, and count
-- towards max_changes.
create or replace function profile_sync.reconcile(dry_run boolean default false, max_changes bigint default null)
returns table (users bigint, missing bigint, stale bigint, orphaned bigint,
               created bigint, refreshed bigint, removed bigint, failed bigint, failed_sample uuid[], converged boolean)
language sql security definer
set search_path = ''
-- In sync, a pass over both tables that compares fingerprints: compiling it (JIT) would cost more than running it.
set jit = off
as $$
  -- Orphans are searched for only when the counts say there are some (profile_sync.totals).
  with users_found as materialized (
    select d.user_id, d.kind from profile_sync.users_to_converge_first(max_changes) d
  ), totals as (
    select c.users, c.orphaned
    from (select count(*) as missing from users_found f where f.kind = 'missing') m, profile_sync.totals(m.missing) c
  ), found as materialized (
    select f.user_id, f.kind from users_found f
    union all
    (select o.user_id, 'orphaned' from profile_sync.orphaned_profiles o
     -- Not when more than a batch drifted already (the counts would be of a part, and there is no room left).
     where case when max_changes is null or (select count(*) from users_found) <= max_changes
                then (select t.orphaned from totals t) > 0 else false end
     limit max_changes + 1)
  ), fits as (
    select max_changes is null or (select count(*) from found) <= max_changes as fits
  ), forgotten as (
    -- Users set aside once whose profile has converged since (before this pass: one that converges now goes next time).
    select case when dry_run then 0 else profile_sync.forget_converged_failures() end as users
  ), done as materialized (
    select c.user_id, c.outcome
    from profile_sync.converge(
      case when (select f.fits from fits f) then array(select d.user_id from found d) else '{}' end, 'replay', dry_run) c
  )
  select case when f.fits then (select t.users from totals t) end,
         case when f.fits then (select count(*) from found d where d.kind = 'missing') end,
         case when f.fits then (select count(*) from found d where d.kind = 'stale') end,
         case when f.fits then (select count(*) from found d where d.kind = 'orphaned') end,
         (select count(*) from done c where c.outcome = 'created' and not dry_run),
         (select count(*) from done c where c.outcome = 'updated' and not dry_run),
         (select count(*) from done c where c.outcome = 'deleted' and not dry_run),
         (select count(*) from done c where c.outcome = 'failed'),
         array(select c.user_id from done c where c.outcome = 'failed' order by c.user_id limit 5),
         f.fits
  from fits f, forgotten
$$;

-- Healing without the function app: a reconcile inside the database every `schedule` (pg_cron's syntax), for projects
-- that run only the migrations. It converges what no event reports: a ban that lapsed, a change of the defaults or
-- rules, an event the wiring lost. In sync, one reconcile is one pass over both tables that writes nothing.
-- Needs pg_cron (Supabase: Dashboard → Database → Extensions → pg_cron; elsewhere shared_preload_libraries =
-- 'pg_cron' and `create extension pg_cron`). Runs as its caller, who owns the job: `postgres` on Supabase.
-- pg_cron is called through EXECUTE of statements held in variables: the migrations apply, and plpgsql_check
-- (`supabase db lint`) has nothing to resolve, where it is not installed.
create or replace function profile_sync.schedule_reconcile(schedule text default '*/10 * * * *')
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  schedule_job text := 'select cron.schedule($1, $2, $3)';
  job_id bigint;
begin
  if not exists (select 1 from pg_catalog.pg_extension e where e.extname = 'pg_cron') then
    raise exception 'pg_cron is not installed in this database, so nothing can run a reconcile on a schedule'
      using errcode = 'feature_not_supported',
            hint = 'On Supabase: Dashboard → Database → Extensions → enable pg_cron. Elsewhere: add pg_cron to '
                   'shared_preload_libraries, restart, and run: create extension pg_cron. Or run the function app, '
                   'whose ReconcileProfiles timer does the same.';
  end if;
  -- A job of the same name is replaced: calling it again changes the schedule.
  execute schedule_job into job_id
    using 'profile_sync_reconcile', schedule, 'select * from profile_sync.reconcile()';
  return job_id;
end
$$;

-- Removes the scheduled reconcile; false when there was none.
create or replace function profile_sync.unschedule_reconcile()
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  find_job text := 'select exists (select 1 from cron.job j where j.jobname = $1)';
  unschedule_job text := 'select cron.unschedule($1)';
  scheduled boolean := false;
begin
  if exists (select 1 from pg_catalog.pg_extension e where e.extname = 'pg_cron') then
    execute find_job into scheduled using 'profile_sync_reconcile';
    if scheduled then
      execute unschedule_job using 'profile_sync_reconcile';
    end if;
  end if;
  return scheduled;
end
$$;

-- What `profilesync status` reports, in one snapshot: how many users and profiles there are, what drifted (by kind
-- and, for stale profiles, by field), and a few of each kind, newest first; the users set aside, and why.
-- `select * from profile_sync.status();`
-- With email_domain rules, also how many e-mail users are confirmed without having proven their address (no
-- confirmation was ever mailed: "Confirm email" is off, or an admin confirmed them), whom those rules never reach.
create or replace function profile_sync.status(sample_size integer default 5)
returns table (users bigint, profiles bigint, missing bigint, stale bigint, orphaned bigint,
               stale_email bigint, stale_display_name bigint, stale_is_active bigint, stale_attributes bigint,
               missing_sample uuid[], stale_sample uuid[], orphaned_sample uuid[],
               failed bigint, failed_sample uuid[], failed_reasons text[],
               domain_rules bigint, confirmed_without_proof bigint)
language sql stable security definer
set search_path = ''
-- As reconcile: compiling (JIT) would cost more than running.
set jit = off
as $$
  -- Orphans are counted (profile_sync.totals), and searched for only for their sample when there are some: in sync
  -- (the usual case) status is one pass over users and profiles and two counts.
  with found as materialized (
    select d.user_id, d.kind, d.stale_fields, d.since from profile_sync.users_drift d
  ), totals as (
    select m.missing, c.users, c.profiles, c.orphaned
    from (select count(*) as missing from found d where d.kind = 'missing') m, profile_sync.totals(m.missing) c
  ), failures as (
    select x.failed, x.failed_sample, x.failed_reasons from profile_sync.failed_summary(sample_size) x
  )
  select t.users, t.profiles, t.missing, count(*) filter (where d.kind = 'stale'), t.orphaned,
         count(*) filter (where 'email' = any(d.stale_fields)),
         count(*) filter (where 'display_name' = any(d.stale_fields)),
         count(*) filter (where 'is_active' = any(d.stale_fields)),
         count(*) filter (where 'attributes' = any(d.stale_fields)),
         array(select s.user_id from found s where s.kind = 'missing' order by s.since desc nulls last, s.user_id limit sample_size),
         array(select s.user_id from found s where s.kind = 'stale' order by s.since desc nulls last, s.user_id limit sample_size),
         case when t.orphaned > 0
              then array(select x.user_id from profile_sync.orphaned_profiles x
                         order by x.created_at desc nulls last, x.user_id limit sample_size)
              else '{}' end,
         (select x.failed from failures x), (select x.failed_sample from failures x), (select x.failed_reasons from failures x),
         (select count(*) from profile_sync.attribute_rules r where r.email_domain is not null),
         (select count(*) from auth.users u
          where exists (select 1 from profile_sync.attribute_rules r where r.email_domain is not null)
            and u.email is not null and u.email_confirmed_at is not null and u.deleted_at is null
            and u.confirmation_sent_at is null and u.invited_at is null and u.raw_app_meta_data -> 'providers' ? 'email'
            and profile_sync.email_proof(u.id, u.email) is null)
  from totals t left join found d on true
  group by t.users, t.profiles, t.missing, t.orphaned
$$;

-- Why a user's profile is what it is, for `profilesync explain` (`select profile_sync.explain('…');`): each field as
-- auth.users implies it, as the profile holds it and whether it is derived or owned; the address and how (whether) it
-- is proven; the defaults; every attribute rule, whether it matched and, if not, what did not; and what a replay would
-- do; the claims the user's next token will carry. Everything through the functions every path uses (derived_profiles,
-- matching_attributes, email_proof, converge_without_locks's dry run, the token hook): an explanation can never
-- disagree with what sync does.
create or replace function profile_sync.explain(user_id uuid)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  wanted uuid := user_id;
  u auth.users;
  derived profile_sync.derived_profiles;
  profile public.user_profiles;
  proof text;
  stale text[];
  rules jsonb;
  replay text;
begin
  select * into u from auth.users x where x.id = wanted;
  select * into derived from profile_sync.derived_profiles d where d.user_id = wanted;
  select s.stale_fields into stale from profile_sync.profile_state s where s.user_id = wanted;
  select * into profile from public.user_profiles p where p.user_id = wanted;
  proof := case when u.email is not null then profile_sync.email_proof(wanted, u.email) end;
  select c.outcome into replay from profile_sync.converge_without_locks(array[wanted], 'replay', true) c;

  select coalesce(jsonb_agg(jsonb_build_object(
           'id', r.id, 'position', r.position, 'description', r.description, 'emailDomain', r.email_domain,
           'provider', r.provider, 'appMetadata', r.app_metadata, 'identityData', r.identity_data,
           'attributes', r.attributes, 'matched', m.matched, 'identity', m.identity,
           'reasons', to_jsonb(array_remove(array[
             case when r.email_domain is null or m.matched then null
                  when u.email is null then 'the user has no e-mail address'
                  when profile_sync.email_domain(u.email) <> profile_sync.email_domain(r.email_domain)
                    then format('the address''s domain is %s, not %s', profile_sync.email_domain(u.email), profile_sync.email_domain(r.email_domain))
                  when proof is null then 'the address is not proven: ' || case
                    when u.email_confirmed_at is null and coalesce(u.confirmation_token, '') <> ''
                      then 'the confirmation mailed to it has not been presented'
                    when u.email_confirmed_at is null then 'it is not confirmed'
                    else 'it was confirmed without presenting a token mailed to it (autoconfirm, an admin, an OAuth or SAML sign-in, a change of address, or before ProfileFunctions was installed)'
                  end end,
             case when r.provider is null or r.identity_data is not null
                    or profile_sync.matching_attributes(jsonb_build_array(jsonb_build_array(null, r.provider, null, '{}'::jsonb)),
                                                        wanted, u.email, u.raw_app_meta_data) is not null then null
                  else format('the user''s providers are %s', coalesce(u.raw_app_meta_data -> 'providers', u.raw_app_meta_data -> 'provider', '[]'::jsonb)) end,
             case when r.app_metadata is null
                    or profile_sync.matching_attributes(jsonb_build_array(jsonb_build_array(null, null, r.app_metadata, '{}'::jsonb)),
                                                        wanted, u.email, u.raw_app_meta_data) is not null then null
                  else 'the app metadata does not contain ' || r.app_metadata::text end,
             case when r.identity_data is null or m.identity is not null then null
                  when not exists (select 1 from auth.identities i where i.user_id = wanted and i.provider = r.provider)
                    then format('the user has no identity of %s', r.provider)
                  else format('the user''s identity of %s does not contain %s', r.provider, r.identity_data) end
           ], null))) order by r.position, r.id), '[]'::jsonb)
  into rules
  from profile_sync.attribute_rules r
  cross join lateral (
    select u.id is not null and profile_sync.matching_attributes(
             jsonb_build_array(profile_sync.attribute_rule_entry(r.email_domain, r.provider, r.app_metadata, r.attributes, r.identity_data)),
             wanted, u.email, u.raw_app_meta_data) is not null as matched,
           -- For a rule on identity data: the user's identity that has it.
           (select jsonb_build_object('id', i.id, 'provider', i.provider) from auth.identities i
            where r.identity_data is not null and i.user_id = wanted and i.provider = r.provider
              and i.identity_data @> r.identity_data
            order by i.id limit 1) as identity) m;

  return jsonb_build_object(
    'userId', wanted,
    'authUser', u.id is not null,
    'hasProfile', profile.user_id is not null,
    'fields', (
      select jsonb_object_agg(f.name, jsonb_build_object(
               'implied', f.implied, 'current', f.current,
               'state', case when profile.user_id is null then null
                             when profile.owned_fields @> array[f.name] then 'owned' else 'derived' end,
               'stale', profile.user_id is not null and coalesce(stale @> array[f.name], false)))
      from (values ('email', to_jsonb(derived.email), to_jsonb(profile.email)),
                   ('display_name', to_jsonb(derived.display_name), to_jsonb(profile.display_name)),
                   ('is_active', to_jsonb(derived.is_active), to_jsonb(profile.is_active)),
                   ('attributes', derived.attributes, profile.attributes)) f(name, implied, current)
      where u.id is not null or profile.user_id is not null),
    'address', case when u.email is not null then jsonb_build_object(
                 'email', u.email, 'domain', profile_sync.email_domain(u.email), 'proven', proof is not null, 'proof', proof,
                 'confirmedAt', u.email_confirmed_at, 'confirmationSentAt', u.confirmation_sent_at) end,
    'defaults', (select s.default_attributes from profile_sync.settings s where s.singleton),
    'rules', rules,
    'replay', replay,
    -- What refused the profile, if a convergence set the user aside and it still drifts.
    'failure', (select jsonb_build_object('reason', x.reason, 'message', x.message, 'via', x.via, 'failedAt', x.failed_at)
                from profile_sync.failed_profiles x where x.user_id = wanted),
    -- What the token hook adds to the user's next access token (claims), or its refusal (error).
    'token', case when u.id is not null then
      profile_sync.custom_access_token_hook(jsonb_build_object('user_id', wanted, 'claims', '{}'::jsonb)) end);
end
$$;

revoke all on function profile_sync.converge_without_locks(uuid[], text, boolean) from public, anon, authenticated, service_role;
revoke all on function profile_sync.converge_user(uuid, text) from public, anon, authenticated, service_role;
revoke all on function profile_sync.converge_changed(uuid[], text) from public, anon, authenticated, service_role;
revoke all on function profile_sync.converge_apart(uuid[], text, boolean) from public, anon, authenticated, service_role;
revoke all on function profile_sync.converge(uuid[], text, boolean) from public, anon, authenticated;
revoke all on function profile_sync.converge_range(uuid, uuid, text, boolean) from public, anon, authenticated;
revoke all on function profile_sync.reconcile(boolean, bigint) from public, anon, authenticated;
revoke all on function profile_sync.status(integer) from public, anon, authenticated;
revoke all on function profile_sync.explain(uuid) from public, anon, authenticated;
revoke all on function profile_sync.schedule_reconcile(text) from public, anon, authenticated, service_role;
revoke all on function profile_sync.unschedule_reconcile() from public, anon, authenticated, service_role;
grant execute on function profile_sync.converge(uuid[], text, boolean) to service_role;
grant execute on function profile_sync.converge_range(uuid, uuid, text, boolean) to service_role;
grant execute on function profile_sync.reconcile(boolean, bigint) to service_role;
grant execute on function profile_sync.status(integer) to service_role;
grant execute on function profile_sync.explain(uuid) to service_role;
