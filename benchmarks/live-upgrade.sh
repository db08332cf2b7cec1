#!/usr/bin/env bash
# The live upgrade of the original setup, by hand, with the real Supabase CLI: a throwaway cluster loading supautils as
# hosted Supabase does (supabase/local/cluster.sh), the original table, trigger and profiles for USERS users, then
# `supabase db push` while a signup arrives every 100 ms (as Supabase Auth writes it, each on a connection of its own).
# Prints when each file started, every signup that failed, the longest signup (connection included) and the drift
# left after the next reconcile.
#   benchmarks/live-upgrade.sh [USERS]      default 2000000; SUPABASE=path/to/supabase (default: supabase on PATH)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
users=${1:-2000000}
supabase=${SUPABASE:-supabase}
command -v "$supabase" >/dev/null || { echo "the Supabase CLI is required (npm i -E supabase@2.117.0; SUPABASE=…/node_modules/.bin/supabase)" >&2; exit 2; }
dir="$(mktemp -d /tmp/live-upgrade-XXXXXX)"
chmod 755 "$dir" # the cluster runs as postgres when this runs as root
port=$((30000 + RANDOM % 9999))
export PGPASSWORD=postgres PGHOST=127.0.0.1 PGPORT=$port
stop_cluster() {
  touch "$dir/stop"; [ -z "${loop:-}" ] || wait "$loop" || true # the signup loop ends first
  bash supabase/local/cluster.sh stop "$dir/cluster" --remove; rm -rf "$dir"
}
trap stop_cluster EXIT
bash supabase/local/cluster.sh start "$dir/cluster" "$port" --fast
bash supabase/local/cluster.sh createdb "$port" live supabase_base
# Every wait for a lock of a second or more goes to the server's log (deadlock_timeout is 1 s).
psql -X -q -d postgres -U supabase_admin -c "alter system set log_lock_waits = on" -c "select pg_reload_conf()" >/dev/null
q() { psql -X -q -v ON_ERROR_STOP=1 -d live "$@"; }

echo "seeding $users users, the original table, trigger and profiles"
q -U supabase_admin -v users="$users" <<'SQL'
insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', 'seed-' || n || '@example.com',
       case n % 4 when 0 then jsonb_build_object('full_name', 'Full ' || n)
                  when 1 then jsonb_build_object('display_name', 'Shown ' || n) else '{}' end,
       '{"provider":"email","providers":["email"]}', now(), now()
from generate_series(1, :users) n;
create table public.user_profiles (
  user_id uuid primary key references auth.users (id), email text, display_name text,
  is_active boolean default true, attributes jsonb default '{}', created_at timestamptz default now(),
  updated_at timestamptz default now());
alter table public.user_profiles owner to postgres;
insert into public.user_profiles (user_id, email, display_name, is_active, attributes)
select u.id, u.email, coalesce(u.raw_user_meta_data ->> 'display_name', u.email), true,
       '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic","created_via":"manual_fix"}'
from auth.users u;
update public.user_profiles set display_name = 'Chosen ' || email, attributes = '{"role":"admin","is_admin":true}'
where email like '%00@example.com';
create function public.create_user_profile_trigger() returns trigger language plpgsql security definer as $f$
begin
  insert into public.user_profiles (user_id, email, display_name, is_active, attributes)
  values (new.id, new.email, coalesce(new.raw_user_meta_data ->> 'display_name', new.email), true,
          '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic","created_via":"auth_trigger"}');
  return new;
end $f$;
alter function public.create_user_profile_trigger() owner to postgres;
create trigger create_user_profile_trigger after insert on auth.users
  for each row execute function public.create_user_profile_trigger();
vacuum analyze auth.users;
vacuum analyze public.user_profiles;
SQL

# One signup as Supabase Auth writes it: the INSERT, then role, app and user metadata, the confirmation token.
signup() {
  local n=$1 start end status=ok
  start=$(date +%s%N)
  psql -X -q -d live -U supabase_auth_admin -v ON_ERROR_STOP=1 >/dev/null 2>>"$dir/signup-errors" <<SQL || status=failed
begin;
insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), '', '', 'live-$n@example.com', '{}', '{}', now(), now());
update auth.users set role = 'authenticated', aud = 'authenticated', updated_at = now() where email = 'live-$n@example.com';
update auth.users set raw_app_meta_data = '{"provider":"email","providers":["email"]}', updated_at = now() where email = 'live-$n@example.com';
update auth.users set raw_user_meta_data = '{"email":"live-$n@example.com","full_name":"Live $n","email_verified":false}', updated_at = now() where email = 'live-$n@example.com';
update auth.users set confirmation_token = 'tok-$n', confirmation_sent_at = now(), updated_at = now() where email = 'live-$n@example.com';
commit;
SQL
  end=$(date +%s%N)
  echo "$(( (end - start) / 1000000 )) $status $(( (start - origin) / 1000000 ))" >>"$dir/signups"
}
touch "$dir/signups" "$dir/signup-errors"
origin=$(date +%s%N)
( n=0; while [ ! -f "$dir/stop" ]; do n=$((n + 1)); signup "$n" & sleep 0.1; done; wait ) &
loop=$!
sleep 5 # signups alone first: what a signup takes on this machine without the upgrade

mkdir -p "$dir/project/supabase" && cp -r supabase/migrations "$dir/project/supabase/"
echo "supabase db push, signups every 100 ms"
started=$(date +%s.%N)
push_ms=$(( ($(date +%s%N) - origin) / 1000000 ))
(cd "$dir/project" && "$supabase" db push --db-url "postgresql://postgres:postgres@127.0.0.1:$port/live?sslmode=disable" --yes 2>&1) |
  while IFS= read -r line; do printf '%7.1f s  %s\n' "$(echo "$(date +%s.%N) - $started" | bc)" "$line"; done |
  grep -v '^ *[0-9.]* s   •' || echo "supabase db push failed: run it again to go on from the file that failed"
sleep 1
touch "$dir/stop"; wait "$loop"

done_ms=$(( ($(date +%s%N) - origin) / 1000000 ))
echo "signups: $(wc -l <"$dir/signups"), failed: $(grep -c failed "$dir/signups" || true) (psql's start and connection included in each)"
awk -v push="$push_ms" '$3 < push { n++; if ($1 > m) m = $1 } END { printf "  before the push: %d signups, longest %d ms\n", n, m }' "$dir/signups"
awk -v push="$push_ms" '$3 >= push { n++; if ($1 > m) { m = $1; at = $3 } } END { printf "  during the push: %d signups, longest %d ms (started %.1f s into the push)\n", n, m, (at - push) / 1000 }' "$dir/signups"
echo "lock waits of 1 s or more: $(grep -c 'still waiting for' "$dir/cluster/server.log" || true)"
grep -A2 'still waiting for' "$dir/cluster/server.log" | head -12 | sed 's/^/  /' || true
sed 's/^/  /' "$dir/signup-errors" | head -5
q -U postgres -At <<'SQL'
select 'users without a profile: ' || count(*) from auth.users u where not exists (select 1 from public.user_profiles p where p.user_id = u.id);
select 'users with two: ' || count(*) from (select user_id from public.user_profiles group by 1 having count(*) > 1) d;
select 'owned (the admins'' choices): ' || count(*) from public.user_profiles where owned_fields <> '{}';
select 'reconcile: created ' || created || ', refreshed ' || refreshed || ', removed ' || removed from profile_sync.reconcile();
select 'drift after it: ' || count(*) from profile_sync.drift;
SQL
