-- ProfileFunctions: where a replay of everyone stands.
-- A replay of everyone (profilesync replay, the HTTP replay, the reconcile timer) goes through the users in ranges of
-- their id, each committed on its own (profile_sync.replay_range). How far it got is kept here, written in each
-- range's own transaction: when a replay stops before its last range (an HTTP replay whose time for one request is
-- up, a fault, a restart), the next replay of everyone goes on after the last range done instead of starting over.
-- The last range removes the row. A dry run's progress is kept apart from a run's.

create table if not exists profile_sync.unfinished_replays (
  dry_run boolean primary key,
  started_at timestamptz not null default pg_catalog.now(),
  updated_at timestamptz not null default pg_catalog.now(),
  last_id uuid not null
);
comment on table profile_sync.unfinished_replays is
  'A replay of everyone that stopped before its last range: every user up to last_id is done. The next replay of '
  'everyone goes on from there; profilesync status shows it.';
alter table profile_sync.unfinished_replays enable row level security;
revoke all on profile_sync.unfinished_replays from public, anon, authenticated, service_role;
grant select on profile_sync.unfinished_replays to service_role;

-- One range of a replay of everyone: the next batch_size users after `after` (the last range is open-ended),
-- converged by profile_sync.converge_range, and how far the replay got kept in profile_sync.unfinished_replays (or,
-- after the last range, cleared). last_id: the range's last user, null after the last range. Counts by the names
-- profile_sync.reconcile() gives them.
create or replace function profile_sync.replay_range(after uuid, batch_size integer, dry_run boolean)
returns table (last_id uuid, users bigint, missing bigint, stale bigint, orphaned bigint, created bigint,
               refreshed bigint, removed bigint, failed bigint, failed_sample uuid[])
language plpgsql security definer
set search_path = ''
as $$
declare
  upto uuid;
  done record;
begin
  select u.id into upto from auth.users u where u.id > after order by u.id offset batch_size - 1 limit 1;
  select c.* into done
  from profile_sync.converge_range(after, coalesce(upto, 'ffffffff-ffff-ffff-ffff-ffffffffffff'), 'replay', dry_run) c;
  if upto is null then
    delete from profile_sync.unfinished_replays r where r.dry_run = replay_range.dry_run;
  else
    insert into profile_sync.unfinished_replays as r (dry_run, last_id) values (replay_range.dry_run, upto)
    on conflict on constraint unfinished_replays_pkey do update
    set last_id = excluded.last_id, updated_at = pg_catalog.now();
  end if;
  return query select upto, done.users, done.missing, done.stale, done.orphaned, done.created, done.refreshed,
                      done.removed, done.failed, done.failed_sample;
end
$$;
revoke all on function profile_sync.replay_range(uuid, integer, boolean) from public, anon, authenticated;
grant execute on function profile_sync.replay_range(uuid, integer, boolean) to service_role;
