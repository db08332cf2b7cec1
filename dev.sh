#!/usr/bin/env bash
# ProfileFunctions developer commands.
#   ./dev.sh test    install what is missing, run every test (xunit and pgTAP), print "N passed, N failed"
#   ./dev.sh bench   build Release and print the replay benchmark (1M users; --users N --batch-size N --rounds N)
#   ./dev.sh status  profilesync status against $ProfileSync__ConnectionString (or --connection …)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root="$(pwd)"

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages the tests and the emulator need; installed once, quietly.
ensure_packages() {
  local wanted=(postgresql-15 postgresql-client-15 postgresql-contrib postgresql-15-pgtap pgtap pgbouncer)
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
    pg_ctlcluster 15 main stop 2>/dev/null || true
  fi
  command -v dotnet >/dev/null || { echo "dotnet (the .NET 10 SDK) is required: https://dot.net" >&2; exit 1; }
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

# xunit through Microsoft.Testing.Platform. Prints "passed failed skipped" on stdout.
run_xunit() {
  local log status=0
  log="$(mktemp /tmp/profilesync-xunit-XXXXXX)"
  dotnet test --solution ProfileFunctions.sln >"$log" 2>&1 || status=$?
  grep -v 'warning NU1603' "$log" >&2 || true
  local succeeded failed skipped
  succeeded=$(sed -nE 's/^\s*succeeded: ([0-9]+)/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  failed=$(sed -nE 's/^\s*failed: ([0-9]+)/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  skipped=$(sed -nE 's/^\s*skipped: ([0-9]+)/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  # A build error or a crashed test host counts as a failure even with no test line.
  if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
  rm -f "$log"
  echo "$succeeded $failed $skipped"
}

cmd_test() {
  ensure_packages
  say "pgTAP (supabase/tests)"
  read -r tap_passed tap_failed < <(run_pgtap)
  say "xunit (tests/)"
  read -r unit_passed unit_failed unit_skipped < <(run_xunit)
  local passed=$((tap_passed + unit_passed)) failed=$((tap_failed + unit_failed))
  local line="$passed passed, $failed failed"
  [ "$unit_skipped" = 0 ] || line="$line, $unit_skipped skipped"
  echo "$line"
  [ "$failed" = 0 ]
}

cmd_bench() {
  ensure_packages
  dotnet run -c Release --project benchmarks/ProfileSync.Bench -v q -- "$@"
}

cmd_status() {
  dotnet run --project functions/ProfileSync.Cli -v q -- status "$@"
}

case "${1:-}" in
  test) shift; cmd_test "$@" ;;
  status) shift; cmd_status "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  up|down)
    echo "./dev.sh $1 is not built yet: the local emulator arrives in a later release (see README)." >&2
    exit 2 ;;
  *) echo "usage: ./dev.sh test | bench [--users N] | status [--json] [--connection CS]" >&2; exit 2 ;;
esac
