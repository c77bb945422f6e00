#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, builds the lab's Kubernetes
# binaries when the cache is empty, then runs every test on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
bash scripts/lab-build.sh --with-metrics-server --with-node >/dev/null
bash scripts/minio-build.sh >/dev/null
# The console the browser tests (tests/web) drive; a no-op when up to date.
bash scripts/web-build.sh
# Each run gets its own PostgreSQL (own directory, free port), so two runs at once never
# stop each other's server; it is removed on exit. TAICHU_TEST_PG_URL uses a given one.
if [ -n "${TAICHU_TEST_PG_URL:-}" ]; then
  PG_URL="$TAICHU_TEST_PG_URL"
else
  TAICHU_TEST_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/taichu-test-pg.XXXXXX")
  TAICHU_TEST_PG_PORT=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export TAICHU_TEST_PG_DIR TAICHU_TEST_PG_PORT
  trap 'bash scripts/pg-test-server.sh stop; rm -rf "$TAICHU_TEST_PG_DIR"' EXIT
  PG_URL=$(bash scripts/pg-test-server.sh)
fi

.venv/bin/ruff check taichu tests bench
.venv/bin/ruff format --check taichu tests bench
workers="${TAICHU_TEST_WORKERS:-2}"

echo "== tests on SQLite (and the lab's own tests) =="
TAICHU_TEST_DB=sqlite .venv/bin/pytest -n "$workers" -q -p no:cacheprovider "$@"

# The lab's own tests, the real-node creations (minutes each) and the browser tests run
# once, in the pass above; the database code they touch is covered on PostgreSQL by
# lighter tests.
echo "== tests on PostgreSQL =="
TAICHU_TEST_DB=postgres TAICHU_TEST_PG_URL="$PG_URL" \
  .venv/bin/pytest -n "$workers" -q -p no:cacheprovider --ignore=tests/lab -m "not real_nodes and not web" "$@"
