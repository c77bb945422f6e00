#!/usr/bin/env bash
# Installs what Taichu needs into .venv (Python deps) and, with --test, what the test suite
# needs from Debian (sshd and sudo for the lab's SSH hosts, PostgreSQL, iproute2, and what
# real nodes and artifact bundles take from Debian: runc, CNI plugins, busybox, iptables,
# conntrack, and Chromium for the console's browser tests) — idempotent. The web console's
# Node dependencies come from web/package-lock.json (`npm ci`) when npm is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if [ "${1:-}" = "--test" ]; then
  need=()
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
  command -v ip >/dev/null || need+=(iproute2)
  # The lab hosts' non-root users escalate with sudo (the machines' `become`).
  command -v sudo >/dev/null || need+=(sudo)
  command -v unshare >/dev/null && command -v flock >/dev/null || need+=(util-linux)
  # Real nodes in the lab and the artifact bundle take these from Debian.
  [ -x /usr/sbin/runc ] || [ -x /usr/bin/runc ] || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  # Static: it becomes the verify image's only binary.
  dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
  command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || need+=(iptables)
  command -v conntrack >/dev/null || [ -x /usr/sbin/conntrack ] || need+=(conntrack)
  # The web console's browser tests: Debian's Chromium, CJK fonts for Chinese screenshots.
  [ -x /usr/bin/chromium ] || need+=(chromium)
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
  command -v npm >/dev/null || need+=(nodejs npm)
  if [ ${#need[@]} -gt 0 ]; then
    echo "[bootstrap] installing Debian packages: ${need[*]}" >&2
    [ "$(id -u)" = 0 ] || { echo "[bootstrap] need root to install ${need[*]}" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv" >&2
  "$PY" -m venv .venv
fi
# The lab extra gives `taichu lab up|down|status` (README: after `make serve`).
extras="[lab]"
[ "${1:-}" = "--test" ] && extras="[test,lab]"
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[bootstrap] installing Python dependencies" >&2
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

# The web console's build dependencies, exactly as locked (scripts/web-build.sh uses them).
if command -v npm >/dev/null && { [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; }; then
  echo "[bootstrap] installing the web console's Node dependencies (npm ci)" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
