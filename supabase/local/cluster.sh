#!/usr/bin/env bash
# A Supabase-shaped PostgreSQL cluster on this machine, for the local emulator and the tests.
#
#   cluster.sh start DIR PORT [--fast]   initdb (first time) and start on 127.0.0.1:PORT; prepare databases:
#                                          supabase_base      template: stand-in only (roles, extensions, auth)
#                                          supabase_migrated  template: stand-in + supabase/migrations
#                                          postgres           stand-in + migrations (+ pgTAP and pg_cron when installed)
#   cluster.sh stop DIR [--remove]       stop it (and delete DIR)
#   cluster.sh restart DIR               stop and start again (same port and data)
#   cluster.sh pause DIR | resume DIR    stop the server, keeping its data | start it again (outage tests)
#   cluster.sh freeze DIR | thaw DIR     make the server hang without closing anything | let it go on
#   cluster.sh createdb PORT NAME TEMPLATE   a new database cloned from a template, with Supabase's grants
#   cluster.sh migrate PORT DB [USER]    apply supabase/migrations in order, as USER (default `postgres`, not a superuser)
#
# The bootstrap superuser is supabase_admin and every local password is `postgres`, as `supabase start` gives.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
migrations="$here/../migrations"
bindir="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
libdir="$(pg_config --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)"
export PGPASSWORD=postgres PGHOST=127.0.0.1 PGCONNECT_TIMEOUT=5 PGOPTIONS="-c client_min_messages=warning"

# initdb and pg_ctl refuse to run as root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

sql() { # sql PORT DB USER [psql args...]
  local port=$1 db=$2 user=$3; shift 3
  psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d "$db" -U "$user" "$@"
}

migrate() { # migrate PORT DB [USER]
  local port=$1 db=$2 user=${3:-postgres} file
  for file in "$migrations"/*.sql; do
    [ -e "$file" ] || continue
    # One transaction per file, as supabase db push gives, except the files whose header says they run without
    # --single-transaction (they commit between batches, or build an index concurrently), as db push runs them.
    if grep -q -- 'without --single-transaction' "$file"; then
      sql "$port" "$db" "$user" -f "$file" >/dev/null
    else
      sql "$port" "$db" "$user" --single-transaction -f "$file" >/dev/null
    fi
  done
}

createdb_from() { # createdb_from PORT NAME TEMPLATE
  local port=$1 name=$2 template=$3
  sql "$port" postgres supabase_admin -c "create database \"$name\" template \"$template\"" \
    -c "grant create, temporary on database \"$name\" to postgres"
}

prepare_databases() { # prepare_databases PORT
  local port=$1
  sql "$port" postgres supabase_admin -f "$here/roles.sql" >/dev/null
  # The stand-in is applied on every start (it only adds what is missing), so a cluster made by an older checkout
  # gets the tables a newer one relies on.
  if ! sql "$port" postgres supabase_admin -tAc "select 1 from pg_database where datname = 'supabase_base'" | grep -q 1; then
    sql "$port" postgres supabase_admin -c 'create database supabase_base'
    sql "$port" postgres supabase_admin -c "alter database supabase_base is_template true"
  fi
  sql "$port" supabase_base supabase_admin -f "$here/schema.sql" >/dev/null
  # The migrated template and the main database follow the migrations as they are now.
  if sql "$port" postgres supabase_admin -tAc "select 1 from pg_database where datname = 'supabase_migrated'" | grep -q 1; then
    sql "$port" postgres supabase_admin -c "alter database supabase_migrated is_template false" \
      -c "drop database supabase_migrated (force)"
  fi
  createdb_from "$port" supabase_migrated supabase_base
  migrate "$port" supabase_migrated
  sql "$port" postgres supabase_admin -c "alter database supabase_migrated is_template true"

  sql "$port" postgres supabase_admin -f "$here/schema.sql" >/dev/null
  migrate "$port" postgres
  sql "$port" postgres supabase_admin -c "do \$\$ begin
      if exists (select 1 from pg_available_extensions where name = 'pgtap') then
        create extension if not exists pgtap with schema extensions;
      end if;
      -- As on Supabase once pg_cron is enabled: postgres schedules jobs and reads their runs.
      if current_setting('shared_preload_libraries') ~ 'pg_cron' then
        create extension if not exists pg_cron with schema pg_catalog;
        grant usage on schema cron to postgres;
        grant all on all tables in schema cron to postgres;
        grant all on all sequences in schema cron to postgres;
        grant execute on all functions in schema cron to postgres;
      end if;
    end \$\$" >/dev/null
}

start() { # start DIR PORT [--fast]
  local dir=$1 port=$2 fast=${3:-}
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    local pwfile="$dir/pwfile"
    echo postgres >"$pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$pwfile"; fi
    as_owner "$bindir/initdb" -D "$dir/data" -U supabase_admin --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    rm -f "$pwfile"
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $port"
      echo "unix_socket_directories = '$dir'"
      echo "max_connections = 400"
      echo "password_encryption = 'scram-sha-256'"
      # Supabase sizes shared_buffers to about a quarter of the instance's memory; 128 MB (the default) is less
      # than a 1M-user auth.users with its profiles needs.
      echo "shared_buffers = 1GB"
      # pg_cron, as Supabase ships it (Debian: postgresql-15-cron), for profile_sync.schedule_reconcile(); its jobs run
      # in the database `postgres`, on background workers (no password needed).
      local preload=()
      if [ -f "$(pg_config --sharedir)/extension/pg_cron.control" ]; then
        preload+=(pg_cron)
        echo "cron.database_name = 'postgres'"
        echo "cron.use_background_workers = on"
      fi
      # supautils as hosted Supabase loads it (supabase/local/supautils; ./dev.sh builds and installs it): postgres is
      # the privileged role, and may manage policies on, and drop triggers of, the auth tables listed below, which
      # supautils locks (ACCESS EXCLUSIVE, until commit) for every such statement postgres runs, whichever its table.
      if [ -f "$libdir/supautils.so" ]; then
        preload+=(supautils)
        local auth_tables='["auth.audit_log_entries","auth.identities","auth.refresh_tokens","auth.sessions","auth.users"]'
        echo "supautils.superuser = 'supabase_admin'"
        echo "supautils.privileged_role = 'postgres'"
        echo "supautils.privileged_extensions = 'pg_cron, pg_net, pgcrypto, pgtap, plpgsql_check, supabase_vault, uuid-ossp'"
        echo "supautils.reserved_roles = 'supabase_admin, supabase_auth_admin, service_role, authenticator, authenticated, anon'"
        echo "supautils.reserved_memberships = 'pg_read_server_files, pg_write_server_files, pg_execute_server_program, authenticator'"
        echo "supautils.policy_grants = '{\"postgres\":$auth_tables}'"
        echo "supautils.drop_trigger_grants = '{\"postgres\":$auth_tables}'"
      fi
      if [ ${#preload[@]} -gt 0 ]; then
        echo "shared_preload_libraries = '$(IFS=,; echo "${preload[*]}")'"
      fi
      if [ "$fast" = --fast ]; then
        # Throwaway test data: durability buys nothing here.
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } >>"$dir/data/postgresql.conf"
  fi
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  prepare_databases "$port"
}

stop() { # stop DIR [--remove]
  local dir=$1 remove=${2:-}
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  if [ "$remove" = --remove ]; then rm -rf "$dir"; fi
}

restart() { # restart DIR
  as_owner "$bindir/pg_ctl" -D "$1/data" -l "$1/server.log" -m fast -w restart >/dev/null
}

pause() { as_owner "$bindir/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null; }
resume() { as_owner "$bindir/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start >/dev/null; }
# A server that hangs: connections open, nothing answers (SIGSTOP on the postmaster and every backend).
freeze() { local pid; pid=$(head -1 "$1/data/postmaster.pid"); kill -STOP "$pid"; pkill -STOP -P "$pid" || true; }
thaw() { local pid; pid=$(head -1 "$1/data/postmaster.pid"); pkill -CONT -P "$pid" || true; kill -CONT "$pid"; }

cmd=${1:-}; shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  restart) restart "$@" ;;
  pause) pause "$@" ;;
  resume) resume "$@" ;;
  freeze) freeze "$@" ;;
  thaw) thaw "$@" ;;
  createdb) createdb_from "$@" ;;
  migrate) migrate "$@" ;;
  *) echo "usage: cluster.sh start DIR PORT [--fast] | stop DIR [--remove] | restart DIR | pause DIR | resume DIR | freeze DIR | thaw DIR | createdb PORT NAME TEMPLATE | migrate PORT DB [USER]" >&2; exit 2 ;;
esac
