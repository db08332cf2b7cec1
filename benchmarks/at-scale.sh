#!/usr/bin/env bash
# Everything an operator runs, as shipped (nothing but a connection string), on a database of many users: each
# operation's wall time and how it ended, as a Markdown table.
#
#   benchmarks/at-scale.sh PORT DB
#
# DB: a database on 127.0.0.1:PORT (users postgres / supabase_admin / supabase_auth_admin, password postgres, as
# supabase/local/cluster.sh makes them) with auth users and the migrations applied, and no profiles yet (an
# adoption). pg_cron must be loaded in the cluster (cluster.sh does so when postgresql-15-cron is installed).
# Run from a checkout; builds the CLI in Release first. Takes long at 10M users (about an hour on 2 cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port=$1 db=$2
export PGPASSWORD=postgres PGHOST=127.0.0.1 PGPORT=$port
conn="Host=127.0.0.1;Port=$port;Database=$db;Username=postgres;Password=postgres"
out="$(mktemp -d /tmp/at-scale-XXXXXX)"
trap 'kill "$serve_pid" 2>/dev/null || true; rm -rf "$out"' EXIT
serve_pid=""

dotnet build -c Release functions/ProfileSync.Cli -o "$out/cli" -v quiet -nologo >/dev/null
cli() { dotnet "$out/cli/ProfileSync.Cli.dll" "$@"; }
sql() { psql -X -q -tA -v ON_ERROR_STOP=1 -d "$db" -U "${SQL_USER:-supabase_admin}" -c "$1"; }

# run NAME COMMAND...: one row: the name, seconds, exit code, the last line it printed (stderr if it failed).
run() {
  local name=$1 started ended code=0
  shift
  started=$(date +%s.%N)
  "$@" >"$out/stdout" 2>"$out/stderr" || code=$?
  ended=$(date +%s.%N)
  local said
  said=$( { [ "$code" = 0 ] && tail -n 1 "$out/stdout"; } || tail -n 1 "$out/stderr")
  printf '| %s | %.1f s | %s | %s |\n' "$name" "$(echo "$ended - $started" | bc)" "$code" "${said//|/\\|}"
}

# One POST /api/profiles/replay to `profilesync serve`: prints the status code, then the body.
post_replay() {
  curl -s -o "$out/body" -w '%{http_code}' --max-time 600 -X POST "http://127.0.0.1:$serve_port/api/profiles/replay" \
    -H "x-functions-key: at-scale" -H 'Content-Type: application/json' -d '{}'
  echo; cat "$out/body"; echo
}
# An HTTP answer other than 200 or 202 fails the row.
http_replay() { post_replay | tee "$out/http"; head -n 1 "$out/http" | grep -qE '^(200|202)$'; }

users=$(sql "select count(*) from auth.users")
echo "## $users auth users, database $db on port $port, commit $(git rev-parse --short HEAD), $(nproc) cores"
echo
echo "| operation | wall time | exit code | last line |"
echo "|---|---:|---:|---|"
run "profilesync replay (adoption: every profile missing)" cli replay --connection "$conn"
run "profilesync replay (in sync)" cli replay --connection "$conn"
run "profilesync status" cli status --connection "$conn"
run "profilesync status --exit-code" cli status --exit-code --connection "$conn"
someone=$(sql "select id from auth.users order by id limit 1 offset 1000")
run "profilesync explain --user-id …" cli explain --user-id "$someone" --connection "$conn"

serve_port=$((20000 + RANDOM % 20000))
ProfileSync__AdminKey=at-scale ProfileSync__WebhookBearerToken=at-scale-token-0123456789abcdef \
  dotnet "$out/cli/ProfileSync.Cli.dll" serve --urls "http://127.0.0.1:$serve_port" --connection "$conn" >"$out/serve.log" 2>&1 & # not through cli(): $! must be serve itself, for the trap to stop it
serve_pid=$!
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$serve_port/api/health" >/dev/null && break; sleep 1; done
run "POST /api/profiles/replay {} (in sync)" http_replay

# 1% of the users renamed while nothing converged them, then healed.
sql "update profile_sync.settings set fallback_trigger_enabled = false"
SQL_USER=supabase_auth_admin sql "update auth.users set raw_user_meta_data = raw_user_meta_data || '{\"full_name\":\"Renamed\"}' where id < '028f5c28-0000-0000-0000-000000000000'"
sql "update profile_sync.settings set fallback_trigger_enabled = true"
run "profilesync status (1% stale)" cli status --connection "$conn"
run "profilesync replay (1% stale)" cli replay --connection "$conn"

# pg_cron's reconcile, as profile_sync.schedule_reconcile() runs it (this database's job, in pg_cron's own).
sql "update profile_sync.settings set fallback_trigger_enabled = false"
SQL_USER=supabase_auth_admin sql "update auth.users set raw_user_meta_data = raw_user_meta_data || '{\"full_name\":\"Renamed again\"}' where id < '028f5c28-0000-0000-0000-000000000000'"
sql "update profile_sync.settings set fallback_trigger_enabled = true"
pg_cron_reconcile() {
  local job
  job=$(psql -X -q -tA -d postgres -U supabase_admin -c \
    "select cron.schedule_in_database('at-scale-reconcile', '* * * * *', 'select * from profile_sync.reconcile()', '$db', 'postgres')")
  until [ "$(psql -X -q -tA -d postgres -U supabase_admin -c \
      "select count(*) from cron.job_run_details where jobid = $job and status in ('succeeded', 'failed')")" -gt 0 ]; do
    sleep 2
  done
  psql -X -q -tA -d postgres -U supabase_admin -c "select cron.unschedule($job)" >/dev/null
  psql -X -q -tA -d postgres -U supabase_admin -c \
    "select status, round(extract(epoch from end_time - start_time)::numeric, 1) || ' s in the job', return_message
     from cron.job_run_details where jobid = $job order by runid limit 1" | tee "$out/cron"
  grep -q '^succeeded' "$out/cron"
}
run "pg_cron: profile_sync.reconcile() (1% stale; waits for the minute)" pg_cron_reconcile
run "profilesync status --exit-code (after it)" cli status --exit-code --connection "$conn"

# An adoption through HTTP: every profile gone, then POST {} until 200, each answer within the host's limit.
sql "delete from public.user_profiles"
http_adoption() {
  local answers=0 code
  while :; do
    answers=$((answers + 1))
    local started ended
    started=$(date +%s.%N)
    post_replay >"$out/http"
    ended=$(date +%s.%N)
    code=$(head -n 1 "$out/http")
    printf 'answer %s: %s in %.1f s: %s\n' "$answers" "$code" "$(echo "$ended - $started" | bc)" "$(tail -n 1 "$out/http")" >&2
    [ "$code" = 200 ] && break
    [ "$code" = 202 ] || return 1
  done
  echo "200 after $answers requests"
}
run "POST /api/profiles/replay {} until 200 (adoption)" http_adoption
sed 's/^/    /' "$out/stderr"
run "profilesync status --exit-code (after it)" cli status --exit-code --connection "$conn"
