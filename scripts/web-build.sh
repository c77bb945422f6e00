#!/usr/bin/env bash
# Builds the web console into taichu/web/dist (docs/console.md):
#   web/openapi.json from the app itself (no server) -> openapi-typescript ->
#   web/src/api/schema.ts -> tsc --noEmit -> vite build.
# A contract change that breaks a screen breaks this build. Skipped when the sources,
# the lockfile and the OpenAPI document hash as the last build did (dist/.source-hash);
# --force builds anyway, --check only says (exit 1) whether a build is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
mode="${1:-}"
dist=taichu/web/dist

command -v npm >/dev/null || { echo "[web-build] npm not found: install Node.js >= 20.19 and npm" >&2; exit 1; }
# Vite 7 needs Node 20.19+ (Debian 12's own nodejs is 18: use NodeSource's or nodejs.org's).
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || { echo "[web-build] Node.js $(node --version) is too old: the console's build needs >= 20.19" >&2; exit 1; }
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "[web-build] npm ci" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

# The API's contract, from the app (the same document /api/openapi.json serves).
"$PY" - web/openapi.json <<'PYEOF'
import json, sys
from taichu.app import create_app
from taichu.config import Settings
document = create_app(Settings()).openapi()
text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
path = sys.argv[1]
try:
    unchanged = open(path, encoding="utf-8").read() == text
except OSError:
    unchanged = False
if not unchanged:  # an unchanged file keeps its mtime
    open(path, "w", encoding="utf-8").write(text)
PYEOF

source_hash() {
  # Tracked and new files under web/ (not node_modules, not the generated ones), plus
  # the OpenAPI document: an API change alone rebuilds (and re-checks) the console.
  { if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -co --exclude-standard -- web
    else  # an unpacked source archive
      find web -type f -not -path 'web/node_modules/*' -not -name openapi.json -not -name schema.ts
    fi | sort; echo web/openapi.json
  } | while read -r f; do [ -f "$f" ] && printf '%s\n' "$f" && cat "$f"; done | sha256sum | cut -d' ' -f1
}
hash=$(source_hash)
if [ "$mode" != "--force" ] && [ -f "$dist/index.html" ] && [ "$(cat "$dist/.source-hash" 2>/dev/null)" = "$hash" ]; then
  [ "$mode" = "--check" ] && exit 0
  echo "[web-build] console up to date" >&2
  exit 0
fi
[ "$mode" = "--check" ] && { echo "[web-build] console missing or stale" >&2; exit 1; }

echo "[web-build] building the console" >&2
cd web
npx --no-install openapi-typescript openapi.json -o src/api/schema.ts >/dev/null
npx --no-install tsc --noEmit
npx --no-install vite build --logLevel warn
cd ..
echo "$hash" > "$dist/.source-hash"
echo "[web-build] built $dist" >&2
