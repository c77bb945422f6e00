#!/usr/bin/env bash
# Starts (or reuses) a throw-away PostgreSQL server from Debian's packages for the test
# suite, on 127.0.0.1. Prints the admin URL. `stop` shuts it down.
set -euo pipefail
PGPORT="${TAICHU_TEST_PG_PORT:-55432}"
PGDIR="${TAICHU_TEST_PG_DIR:-/tmp/taichu-test-pg}"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-start}" = stop ]; then
  [ -d "$PGDIR/data" ] && run "$BIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi
mkdir -p "$PGDIR"
[ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
  run "$BIN/initdb" -D "$PGDIR/data" -U taichu --auth=trust -E UTF8 >/dev/null
  cat >>"$PGDIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi
if ! run "$BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
  run "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w start >/dev/null
fi
echo "postgresql+asyncpg://taichu@127.0.0.1:$PGPORT/postgres"
