#!/usr/bin/env bash
# ProfileFunctions developer commands.
#   ./dev.sh up      install what is missing, start the local emulator, play the starting case, leave it running
#   ./dev.sh down    stop the local emulator
#   ./dev.sh test    install what is missing, run every test (xunit and pgTAP), print "N passed, N failed"
#   ./dev.sh bench   build Release and print every hot path against its baseline (1M users; --users N --signups N
#                    --deliveries N --rounds N --batch-size N --only TEXT)
#   ./dev.sh status  profilesync status against $ProfileSync__ConnectionString, --connection …, or the emulator
#   ./dev.sh replay  profilesync replay, the same way
#   ./dev.sh explain profilesync explain --user-id ID, the same way
#   ./dev.sh signup  a signup on the emulator, with a fresh e-mail; says which path made its profile
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root="$(pwd)"

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages the tests and the emulator need; installed once, quietly.
ensure_packages() {
  local wanted=(postgresql-15 postgresql-client-15 postgresql-contrib postgresql-15-pgtap pgtap postgresql-15-plpgsql-check postgresql-15-cron pgbouncer curl openssl
                postgresql-server-dev-15 build-essential)
  local missing=() package
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian's package starts a cluster of its own on 5432; nothing here uses it.
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
    say "stopping Debian's own PostgreSQL cluster (15/main on 5432): nothing here uses it (start it again with: pg_ctlcluster 15 main start)"
    pg_ctlcluster 15 main stop 2>/dev/null || true
  fi
  ensure_supautils
  command -v dotnet >/dev/null || { echo "dotnet (the .NET 10 SDK) is required: https://dot.net" >&2; exit 1; }
}

# supautils, as hosted Supabase loads it (supabase/local/supautils, vendored): built and installed into PostgreSQL's
# lib dir when missing; supabase/local/cluster.sh loads it into every cluster it makes.
ensure_supautils() {
  [ -f "$(pg_config --pkglibdir)/supautils.so" ] && return
  say "building supautils (supabase/local/supautils) and installing it into $(pg_config --pkglibdir)"
  local build sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  build="$(mktemp -d /tmp/supautils-build-XXXXXX)"
  cp -r supabase/local/supautils/. "$build"
  make -s -C "$build" >/dev/null
  $sudo make -s -C "$build" install >/dev/null
  rm -rf "$build"
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free port found" >&2; return 1
}

# pgTAP: supabase/tests/*.sql against a throwaway cluster, as `supabase test db` runs them (as postgres).
# Prints "passed failed" on stdout.
run_pgtap() {
  local dir port log passed failed status=0
  dir="$(mktemp -d /tmp/profilesync-pgtap-XXXXXX)"
  port="$(free_port)"
  log="$dir.out"
  bash supabase/local/cluster.sh start "$dir" "$port" --fast
  PGPASSWORD=postgres pg_prove --verbose -h 127.0.0.1 -p "$port" -U postgres -d postgres supabase/tests/*.sql >"$log" 2>&1 || status=$?
  bash supabase/local/cluster.sh stop "$dir" --remove
  grep -vE '^\s*ok [0-9]+' "$log" >&2 || true
  passed=$(grep -cE '^\s*ok [0-9]+' "$log" || true)
  failed=$(grep -cE '^\s*not ok [0-9]+' "$log" || true)
  # A plan mismatch or a file that died fails without a "not ok" line.
  if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
  rm -f "$log"
  echo "$passed $failed"
}

# xunit through Microsoft.Testing.Platform. Prints "passed failed skipped" on stdout. The platform's own output streams
# as it comes (failures whole, the summary); the counts, each class's line and the slowest tests are read from the
# JUnit report the run writes, so a build error or a crashed test host (no report) counts as a failure.
run_xunit() {
  local dir status=0
  dir="$(mktemp -d /tmp/profilesync-xunit-XXXXXX)"
  { PROFILESYNC_TEST_REPORT="$dir/notes" dotnet test --solution ProfileFunctions.sln \
      --report-xunit-junit --report-xunit-junit-filename junit.xml --results-directory "$dir" 2>&1
    echo $? >"$dir/status"; } | grep --line-buffered -v 'warning NU1603' >&2 || true
  status=$(cat "$dir/status")
  [ -f "$dir/notes" ] && sed 's/^/    /' "$dir/notes" >&2 # the fuzzer's seed, the fault run's counts
  local succeeded=0 failed=0 skipped=0
  if [ -f "$dir/junit.xml" ]; then
    # One record per test case: class, outcome, seconds, name.
    awk -v RS='<testcase ' 'NR > 1 {
        outcome = ($0 ~ /<(failure|error)[ >\/]/) ? "failed" : ($0 ~ /<skipped[ >\/]/) ? "skipped" : "passed"
        match($0, /classname="[^"]*"/); class = substr($0, RSTART + 11, RLENGTH - 12); sub(/^ProfileSync\.Tests\./, "", class)
        match($0, /time="[^"]*"/); seconds = substr($0, RSTART + 6, RLENGTH - 7) + 0
        match($0, /name="[^"]*"/); name = substr($0, RSTART + 6, RLENGTH - 7); sub(/^ProfileSync\.Tests\./, "", name)
        gsub(/&quot;/, "\"", name); gsub(/&apos;/, "'"'"'", name); gsub(/&lt;/, "<", name); gsub(/&gt;/, ">", name); gsub(/&amp;/, "\\&", name)
        printf "%s\t%s\t%.3f\t%s\n", class, outcome, seconds, name
      }' "$dir/junit.xml" >"$dir/cases"
    awk -F '\t' '{ n[$1]++; t[$1] += $3 } $2 == "failed" { f[$1]++ } $2 == "skipped" { s[$1]++ }
         END { for (c in n) printf "    %-60s %4d tests %8.1f s%s%s\n", c, n[c], t[c],
                 (f[c] ? "  " f[c] " failed" : ""), (s[c] ? "  " s[c] " skipped" : "") }' "$dir/cases" | sort >&2
    echo "    slowest tests:" >&2
    sort -t "$(printf '\t')" -k3,3 -rn "$dir/cases" | awk -F '\t' 'NR <= 8 { printf "    %9.1f s  %s\n", $3, $4 }' >&2
    read -r succeeded failed skipped < <(awk -F '\t' '{ n[$2]++ } END { print n["passed"] + 0, n["failed"] + 0, n["skipped"] + 0 }' "$dir/cases")
  fi
  # A build error or a crashed test host counts as a failure even with no failed test in the report.
  if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
  rm -rf "$dir"
  echo "$succeeded $failed $skipped"
}

# The benchmark once at a tiny size (Debug, built with the tests), so it cannot rot. Prints "passed failed".
run_bench_smoke() {
  if dotnet run --project benchmarks/ProfileSync.Bench -v q -- --users 2000 --signups 100 --deliveries 100 --rounds 1 >&2; then
    echo "1 0"
  else
    echo "0 1"
  fi
}

# The npm programs the tests run (tests/tools/package.json, versions locked): installed once, quietly.
ensure_test_tools() {
  [ -x tests/tools/node_modules/.bin/action-validator ] && return
  command -v npm >/dev/null || { echo "npm (Node.js 20 or later) is required for the tests: https://nodejs.org" >&2; exit 1; }
  say "installing the tests' npm tools (tests/tools)"
  npm ci --prefix tests/tools --no-audit --no-fund --silent >/dev/null
}

cmd_test() {
  ensure_packages
  ensure_test_tools
  say "pgTAP (supabase/tests)"
  read -r tap_passed tap_failed < <(run_pgtap)
  say "xunit (tests/)"
  read -r unit_passed unit_failed unit_skipped < <(run_xunit)
  say "benchmark at a tiny size (benchmarks/ProfileSync.Bench)"
  read -r bench_passed bench_failed < <(run_bench_smoke)
  local passed=$((tap_passed + unit_passed + bench_passed)) failed=$((tap_failed + unit_failed + bench_failed))
  local line="$passed passed, $failed failed"
  [ "$unit_skipped" = 0 ] || line="$line, $unit_skipped skipped"
  echo "$line"
  [ "$failed" = 0 ]
}

# The local emulator: Supabase-shaped PostgreSQL on 127.0.0.1:54322, the function's routes on 127.0.0.1:7071
# (profilesync serve), and pg_net's delivery (supabase/local/PgNetWorker, the emulator's own stand-in for pg_net's
# worker; not part of the profilesync CLI). State lives in .dev/ (ignored by git).
# PROFILESYNC_DEV_DB_PORT, PROFILESYNC_DEV_API_PORT and PROFILESYNC_DEV_DIR move it, e.g. beside `supabase start`.
state="${PROFILESYNC_DEV_DIR:-$root/.dev}"
db_port="${PROFILESYNC_DEV_DB_PORT:-54322}"
api_url="http://127.0.0.1:${PROFILESYNC_DEV_API_PORT:-7071}"
connection="Host=127.0.0.1;Port=$db_port;Database=postgres;Username=postgres;Password=postgres"
cli="$state/bin/ProfileSync.Cli.dll"                   # profilesync, as users install it
pgnet_worker="$state/pgnet-worker/PgNetWorker.dll"     # pg_net's worker, the emulator's alone

psql_as() { local user=$1; shift; PGPASSWORD=postgres psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$db_port" -U "$user" -d postgres "$@"; }
profilesync() { ProfileSync__ConnectionString="$connection" dotnet "$cli" "$@"; }
running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }
emulator_up() { [ -f "$state/db/data/postmaster.pid" ] && pg_isready -q -h 127.0.0.1 -p "$db_port" 2>/dev/null; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_background NAME DLL ARGS...: dotnet DLL ARGS in the background (pid and log in $state/NAME.*), (re)started
# when DLL's build changed since it started
start_background() {
  local name=$1 dll=$2; shift 2
  if running "$name"; then
    if [ "$(cat "$state/$name.build" 2>/dev/null)" = "$(build_id "$dll")" ]; then return 0; fi
    say "restarting $name: its build changed"
    kill "$(cat "$state/$name.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do running "$name" || break; sleep 0.1; done
  fi
  build_id "$dll" >"$state/$name.build"
  ProfileSync__ConnectionString="$connection" ProfileSync__WebhookSecret="$(cat "$state/webhook-secret")" \
    ProfileSync__AdminKey="$(cat "$state/admin-key")" \
    setsid nohup dotnet "$dll" "$@" >"$state/$name.log" 2>&1 </dev/null &
  echo $! >"$state/$name.pid"
}

# build_id DLL: DLL and the ProfileSync.dll built beside it, hashed
build_id() { md5sum "$1" "$(dirname "$1")/ProfileSync.dll" | md5sum | cut -c1-32; }

# build_release WHAT PROJECT DLL: a Release build of PROJECT into DLL's directory; its log beside it, shown when it fails
build_release() {
  local what=$1 project=$2 dll=$3 dir log
  dir="$(dirname "$dll")"
  log="$dir.build.log"
  say "building $what (Release, into $dir)"
  if ! dotnet build "$project" -c Release -o "$dir" -v m -nologo 2>&1 | tee "$log" |
       grep --line-buffered -E '^\s*(Determining|Restored|[A-Za-z.]+ -> )' | sed -u 's/^ */    /' >&2; then :; fi
  grep -qE 'Build succeeded|0 Error' "$log" && [ -f "$dll" ] || { cat "$log" >&2; exit 1; }
}

profile_origin() { # profile_origin EMAIL: created_via of that user's profile, if any
  psql_as postgres -tAc "select p.created_via from public.user_profiles p join auth.users u on u.id = p.user_id where u.email = '$1'"
}

cmd_up() {
  ensure_packages
  mkdir -p "$state"
  # Ports first: a taken one stops it at once, with the way out.
  if ! emulator_up && port_taken "$db_port"; then
    echo "port $db_port is taken by another program (supabase start? another PostgreSQL?): stop it, or choose another with PROFILESYNC_DEV_DB_PORT=… ./dev.sh up" >&2
    exit 1
  fi
  if ! running serve && port_taken "${api_url##*:}"; then
    echo "port ${api_url##*:} is taken by another program (func start?): stop it, or choose another with PROFILESYNC_DEV_API_PORT=… ./dev.sh up" >&2
    exit 1
  fi
  build_release profilesync functions/ProfileSync.Cli "$cli"
  build_release "the pg_net worker" supabase/local/PgNetWorker "$pgnet_worker"
  [ -f "$state/webhook-secret" ] || echo "v1,whsec_$(openssl rand -base64 32)" >"$state/webhook-secret"
  [ -f "$state/admin-key" ] || openssl rand -hex 32 >"$state/admin-key"

  if emulator_up; then
    say "database already running on 127.0.0.1:$db_port"
  else
    say "starting the Supabase-shaped database on 127.0.0.1:$db_port"
    bash supabase/local/cluster.sh start "$state/db" "$db_port"
  fi

  # Seeded before the webhook is wired, with the fallback trigger off: nothing heals them behind the demo's back.
  say "the starting case: 5 auth users, 2 profiles"
  psql_as postgres -c "update profile_sync.settings set fallback_trigger_enabled = false"
  psql_as supabase_auth_admin -c "
    insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, created_at, updated_at)
    select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
           name || '@example.com', jsonb_build_object('full_name', initcap(name)), now(), now()
    from unnest(array['ana', 'ben', 'cai', 'dee', 'eve']) name
    on conflict do nothing"
  psql_as postgres -c "
    insert into public.user_profiles (user_id, email, display_name, attributes)
    select u.id, u.email, u.raw_user_meta_data ->> 'full_name', '{\"role\":\"admin\",\"is_admin\":true}'
    from auth.users u where u.email in ('ana@example.com', 'ben@example.com')
    on conflict do nothing"
  profilesync status
  say "replay heals them"
  profilesync replay

  say "wiring auth.users to the function: Vault secrets, profilesync serve on $api_url, the pg_net worker"
  # psql variables (:'url') are interpolated only in input read from stdin, not in -c.
  printf '%s\n' \
    "select vault.create_secret(:'url', 'profile_sync_function_url') where not exists (select 1 from vault.decrypted_secrets where name = 'profile_sync_function_url');" \
    "select vault.create_secret(:'secret', 'profile_sync_webhook_secret') where not exists (select 1 from vault.decrypted_secrets where name = 'profile_sync_webhook_secret');" |
    psql_as postgres -v url="$api_url/api/auth-events" -v secret="$(cat "$state/webhook-secret")" >/dev/null
  start_background serve "$cli" serve --urls "$api_url"
  start_background dispatch "$pgnet_worker"
  for _ in $(seq 1 50); do
    curl -fsS "$api_url/api/health" >/dev/null 2>&1 && break
    running serve || break
    sleep 0.2
  done
  if ! curl -fsS "$api_url/api/health" >/dev/null 2>&1; then
    echo "profilesync serve did not start; its last lines ($state/serve.log):" >&2
    tail -5 "$state/serve.log" >&2
    exit 1
  fi

  say "a new signup gets its profile through the webhook"
  sign_up_and_watch webhook
  psql_as postgres -c "update profile_sync.settings set fallback_trigger_enabled = true"
  profilesync status

  cat <<EOF

The local emulator is running:
  database   postgresql://postgres:postgres@127.0.0.1:$db_port/postgres   (superuser: supabase_admin, password postgres)
  function   $api_url/api/auth-events   $api_url/api/profiles/replay   $api_url/api/health
  delivery   supabase/local/PgNetWorker, the pg_net stand-in; logs in $state/ (dispatch.log)
  secret     ProfileSync__WebhookSecret=$(cat "$state/webhook-secret")
  replay     curl -X POST $api_url/api/profiles/replay -H "x-functions-key: $(cat "$state/admin-key")" -d '{"dryRun":true}'
Use it from this shell (./dev.sh status and ./dev.sh replay use it already while it is up):
  export ProfileSync__ConnectionString='$connection'
Try a signup (a fresh e-mail each time; says which path made the profile and what the webhook answered; with the
fallback trigger on, the trigger makes it at commit and the webhook finds it done: "unchanged"):
  ./dev.sh signup
Traces and metrics: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318 with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
  before ./dev.sh up to export them (docs/operations.md, "Seeing it work"); ./dev.sh down first if it is running.
Stop it with ./dev.sh down.
EOF
}

# A signup as Supabase Auth writes it, with a fresh e-mail; waits for its profile and for the webhook's answer, and
# says which path made the profile. sign_up_and_watch [webhook]: with "webhook", fails unless the webhook made it.
sign_up_and_watch() {
  local want=${1:-} email id started took origin="" answer=""
  email="signup-$(date +%s%N)@example.com"
  started=$(date +%s%N)
  id=$(psql_as supabase_auth_admin -tA -c "
    insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at, updated_at)
    values (gen_random_uuid(), 'authenticated', 'authenticated', '$email', '{\"full_name\":\"New Signup\"}', now(), now())
    returning id" | head -1)
  for _ in $(seq 1 250); do
    origin=$(profile_origin "$email")
    answer=$(psql_as postgres -tAc "select status_code || ' ' || coalesce(content, error_msg, '') from net._http_response where content like '%$id%' order by id desc limit 1")
    if [ -n "$origin" ] && [ -n "$answer" ]; then break; fi
    sleep 0.02
  done
  took=$(( ($(date +%s%N) - started) / 1000000 ))
  case "$origin" in
    webhook) echo "$email: profile created by the webhook (profilesync serve) within ${took} ms of the signup" ;;
    auth_trigger) echo "$email: profile created by the fallback trigger, in the signup's own transaction" ;;
    *) echo "$email: no profile after ${took} ms; see $state/serve.log and $state/dispatch.log" >&2; return 1 ;;
  esac
  if [ -n "$answer" ]; then
    echo "  the webhook answered: $answer"
  else
    echo "  no answer from the webhook yet; see $state/dispatch.log" >&2
  fi
  [ -z "$want" ] || [ "$origin" = "$want" ] || { echo "expected the $want path; see $state/serve.log and $state/dispatch.log" >&2; return 1; }
}

cmd_signup() {
  emulator_up || { echo "the emulator is not running: ./dev.sh up" >&2; exit 1; }
  sign_up_and_watch
}

cmd_down() {
  local name
  for name in dispatch serve; do
    if running "$name"; then kill "$(cat "$state/$name.pid")" 2>/dev/null || true; fi
    rm -f "$state/$name.pid"
  done
  if [ -d "$state/db/data" ]; then bash supabase/local/cluster.sh stop "$state/db"; fi
  say "stopped; the data stays in $state/db (delete $state to start from scratch)"
}

cmd_bench() {
  case " $* " in *" --help "*|*" -h "*) ;; *) ensure_packages ;; esac
  dotnet build -c Release benchmarks/ProfileSync.Bench -v q -nologo -clp:ErrorsOnly >&2
  # exec: Ctrl+C and `timeout` reach the benchmark itself, which stops its PostgreSQL and removes its data.
  exec dotnet benchmarks/ProfileSync.Bench/bin/Release/net10.0/ProfileSync.Bench.dll "$@"
}

# status, explain and replay: against the emulator's database, unless a connection is given; with the CLI `up` built.
cli_against() {
  if [ -z "${ProfileSync__ConnectionString:-}" ] && [[ " $* " != *" --connection "* && " $* " != *" --help "* ]]; then
    emulator_up || { echo "the emulator is not running: ./dev.sh up (or give --connection, or set ProfileSync__ConnectionString)" >&2; exit 1; }
    export ProfileSync__ConnectionString="$connection"
  fi
  if [ -f "$cli" ]; then exec dotnet "$cli" "$@"; fi
  dotnet run --project functions/ProfileSync.Cli -v q -- "$@"
}

cmd_status() { cli_against status "$@"; }
cmd_explain() { cli_against explain "$@"; }
cmd_replay() { cli_against replay "$@"; }

case "${1:-}" in
  test) shift; cmd_test "$@" ;;
  status) shift; cmd_status "$@" ;;
  explain) shift; cmd_explain "$@" ;;
  replay) shift; cmd_replay "$@" ;;
  signup) shift; cmd_signup "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  *) echo "usage: ./dev.sh up | down | signup | test | bench [--users N] | status [--json] | replay [--dry-run] | explain --user-id ID (status, replay and explain take --connection CS)" >&2; exit 2 ;;
esac
