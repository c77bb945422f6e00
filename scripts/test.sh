#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, builds the lab's Kubernetes
# binaries when the cache is empty, then runs every test on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
bash scripts/lab-build.sh --with-metrics-server >/dev/null
bash scripts/minio-build.sh >/dev/null
PG_URL=$(bash scripts/pg-test-server.sh)
trap 'bash scripts/pg-test-server.sh stop' EXIT

.venv/bin/ruff check taichu tests bench
.venv/bin/ruff format --check taichu tests bench
workers="${TAICHU_TEST_WORKERS:-2}"

echo "== tests on SQLite (and the lab's own tests) =="
TAICHU_TEST_DB=sqlite .venv/bin/pytest -n "$workers" -q -p no:cacheprovider "$@"

echo "== tests on PostgreSQL =="
TAICHU_TEST_DB=postgres TAICHU_TEST_PG_URL="$PG_URL" \
  .venv/bin/pytest -n "$workers" -q -p no:cacheprovider --ignore=tests/lab "$@"
