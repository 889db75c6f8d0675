#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1, for the tests and the benchmark.
#   scripts/postgres.sh start DIR PORT [fast]   prints the database URL
#   scripts/postgres.sh stop DIR
# `fast` turns fsync off (tests only: a crash would lose the cluster, which is thrown away).
# initdb refuses root, so the cluster belongs to the `postgres` user when we are root.
set -euo pipefail

find_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local candidate
  candidate=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$candidate" ] && { echo "$candidate"; return; }
  echo "PostgreSQL's $name is not installed (apt-get install postgresql)" >&2
  exit 1
}

as_owner() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

command=${1:?start or stop}
dir=${2:?data directory}
case "$command" in
  start)
    port=${3:?port}
    mode=${4:-safe}
    initdb=$(find_bin initdb)
    pg_ctl=$(find_bin pg_ctl)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = "0" ] && chown postgres: "$dir"
      as_owner "$initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
    options="$options -c max_connections=200 -c shared_buffers=256MB"
    if [ "$mode" = "fast" ]; then
      options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_owner "$pg_ctl" -D "$dir" -l "$dir/server.log" -o "$options" -w start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    pg_ctl=$(find_bin pg_ctl)
    as_owner "$pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start DIR PORT [fast] | stop DIR" >&2
    exit 2
    ;;
esac
