#!/usr/bin/env bash
# Starts Taichu on its embedded default: SQLite in ./data, port 8081 (TAICHU_* to change).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The web console at / : built when missing or stale (a no-op otherwise).
bash scripts/web-build.sh
exec .venv/bin/taichu serve "$@"
