#!/usr/bin/env bash
# Installs what Taichu needs into .venv (Python deps) and, with --test, what the test suite
# needs from Debian (sshd and sudo for the lab's SSH hosts, PostgreSQL, iproute2, and what
# real nodes and artifact bundles take from Debian: runc, CNI plugins, busybox, iptables,
# conntrack) — idempotent.
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
