#!/usr/bin/env bash
# Builds Velero and its AWS object-store plugin from their Go modules into a cache outside
# the work tree, for bench/backup_restore.py (Velero run against a lab cluster from outside
# it, storing into the bench's MinIO). Idempotent (built binaries are left alone) and
# locked against concurrent runs. Prints the cache directory on success:
#   <dir>/bin/velero                          the CLI and the server (`velero server`)
#   <dir>/plugins/velero-plugin-for-aws       the plugin directory for --plugin-dir
# With --download-only it fetches the modules both builds need and builds nothing.
#
# Versions that go together (the plugin's README compatibility table: plugin v1.14.x <->
# Velero v1.18.x; plugin v1.14.3's go.mod requires velero v1.18.1): the newest of each
# that the module proxy serves.
set -euo pipefail

DOWNLOAD_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --download-only) DOWNLOAD_ONLY=1 ;;
    *) echo "usage: $0 [--download-only]" >&2; exit 2 ;;
  esac
done

VELERO_VERSION="${TAICHU_VELERO_VERSION:-v1.18.3}"
AWS_PLUGIN_VERSION="${TAICHU_VELERO_AWS_PLUGIN_VERSION:-v1.14.3}"
CACHE_ROOT="${TAICHU_LAB_CACHE:-$HOME/.cache/taichu-lab}"
DIR="$CACHE_ROOT/velero-$VELERO_VERSION-aws-$AWS_PLUGIN_VERSION"
VELERO="$DIR/bin/velero"
PLUGIN="$DIR/plugins/velero-plugin-for-aws"
VELERO_MOD=github.com/vmware-tanzu/velero
# Modules whose exact version the module proxy here does not serve ("403 ... not
# available"), raised to the nearest patch release it has. Velero v1.18.3 requires
# k8s.io/cli-runtime v0.33.12; v0.33.13 brings its k8s.io/* siblings to v0.33.13 too.
PINS="${TAICHU_VELERO_PINS:-k8s.io/cli-runtime@v0.33.13}"
PLUGIN_MOD=github.com/vmware-tanzu/velero-plugin-for-aws

say() { printf '[velero-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
built() { [ -x "$VELERO" ] && [ -x "$PLUGIN" ]; }

if [ "$DOWNLOAD_ONLY" = 0 ] && built; then say "cached: $DIR"; echo "$DIR"; exit 0; fi

command -v go >/dev/null || die "Go is not installed (need Go 1.26+ with the Go module proxy)"
command -v flock >/dev/null || die "flock is missing (Debian package util-linux)"
mkdir -p "$DIR/bin" "$DIR/plugins" "$DIR/src"
exec 9>"$CACHE_ROOT/velero-build.lock"
say "waiting for the build lock $CACHE_ROOT/velero-build.lock"
flock 9
if [ "$DOWNLOAD_ONLY" = 0 ] && built; then say "built by another process: $DIR"; echo "$DIR"; exit 0; fi

export CGO_ENABLED=0 GOTOOLCHAIN=local
start=$(date +%s)

# Velero's go.mod has a replace directive (kopia -> its fork), so `go install ...@version`
# refuses it: build inside a module of our own that requires it and repeats its replaces,
# with its go line. Version selection then is Velero's own (only Velero is required).
mod="$DIR/src/velero"
if [ ! -f "$mod/.ready" ]; then
  gomod=$(cd "$CACHE_ROOT" && GOFLAGS=-mod=mod go mod download -json "$VELERO_MOD@$VELERO_VERSION" \
    | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || die "cannot download $VELERO_MOD@$VELERO_VERSION"
  rm -rf "$mod"; mkdir -p "$mod"
  {
    printf 'module taichu.local/lab/velero\n\n'
    grep -E '^go [0-9]' "$gomod"
    printf '\nrequire %s %s\n' "$VELERO_MOD" "$VELERO_VERSION"
    for pin in $PINS; do printf 'require %s %s\n' "${pin%@*}" "${pin#*@}"; done
    echo
    # Single-line replaces and the lines of replace blocks, written as single lines.
    awk '/^replace \(/ {b=1; next} b && /^\)/ {b=0; next}
         b {print "replace " $0; next} /^replace / {print}' "$gomod" | sed 's/^replace[ \t]*/replace /'
  } >"$mod/go.mod"
  say "resolving $VELERO_MOD@$VELERO_VERSION in $mod"
  (cd "$mod" && GOFLAGS=-mod=mod go get "$VELERO_MOD/cmd/velero@$VELERO_VERSION" 2>&1 | tail -3 >&2)
  touch "$mod/.ready"
fi
if [ "$DOWNLOAD_ONLY" = 1 ]; then
  # `go list -deps` loads every package the builds compile (downloading their modules)
  # and compiles nothing.
  say "downloading what velero and $PLUGIN_MOD@$AWS_PLUGIN_VERSION import"
  (cd "$mod" && GOFLAGS=-mod=mod go list -deps "$VELERO_MOD/cmd/velero" >/dev/null)
  pdir=$(cd "$CACHE_ROOT" && GOFLAGS=-mod=mod go mod download -json "$PLUGIN_MOD@$AWS_PLUGIN_VERSION" \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$pdir" ] || die "cannot download $PLUGIN_MOD@$AWS_PLUGIN_VERSION"
  (cd "$pdir" && GOFLAGS=-mod=readonly go list -deps ./velero-plugin-for-aws >/dev/null)
  say "downloaded in $(( $(date +%s) - start ))s"
  exit 0
fi

if [ ! -x "$VELERO" ]; then
  say "building velero $VELERO_VERSION (several minutes on 2 cores)"
  # The version stamp the release sets; controller-runtime's metrics listener (":8080" by
  # default, with no velero flag to move it) is switched off: Velero serves its own
  # metrics on --metrics-address, and a fixed port would collide on a shared machine.
  ldflags="-s -w -X $VELERO_MOD/pkg/buildinfo.Version=$VELERO_VERSION"
  ldflags="$ldflags -X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=0"
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$VELERO.tmp" \
    "$VELERO_MOD/cmd/velero")
  mv "$VELERO.tmp" "$VELERO"
fi

if [ ! -x "$PLUGIN" ]; then
  # No replace directives: `go install` builds it with its own go.mod, as its release does.
  say "building velero-plugin-for-aws $AWS_PLUGIN_VERSION"
  tmp="$DIR/plugins.tmp"
  rm -rf "$tmp"; mkdir -p "$tmp"
  GOFLAGS= GOBIN="$tmp" go install -trimpath -ldflags "-s -w" \
    "$PLUGIN_MOD/velero-plugin-for-aws@$AWS_PLUGIN_VERSION"
  [ -x "$tmp/velero-plugin-for-aws" ] || die "go install finished but the plugin is missing"
  mv "$tmp/velero-plugin-for-aws" "$PLUGIN"
  rm -rf "$tmp"
fi
say "done in $(( $(date +%s) - start ))s: $DIR"
echo "$DIR"
