#!/usr/bin/env bash
# Builds MinIO (an S3-compatible object store) from its Go module into a cache outside the
# work tree, for the backup tests of the S3 storage backend. Idempotent (a built binary is
# left alone) and locked against concurrent runs. Prints the binary's path on success.
#
# MinIO tags its releases RELEASE.<date>, which are not semantic versions, so the module
# proxy serves only pseudo-versions; the default is the newest one that was tested here.
set -euo pipefail

MINIO_VERSION="${TAICHU_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE_ROOT="${TAICHU_LAB_CACHE:-$HOME/.cache/taichu-lab}"
MINIO_DIR="$CACHE_ROOT/minio-$MINIO_VERSION"
BIN="$MINIO_DIR/bin/minio"

say() { printf '[minio-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

if [ -x "$BIN" ]; then say "cached: $BIN"; echo "$BIN"; exit 0; fi

command -v go >/dev/null || die "Go is not installed (need Go 1.26+ with the Go module proxy)"
command -v flock >/dev/null || die "flock is missing (Debian package util-linux)"
mkdir -p "$MINIO_DIR/bin"
exec 9>"$CACHE_ROOT/minio-build.lock"
say "waiting for the build lock $CACHE_ROOT/minio-build.lock"
flock 9
if [ -x "$BIN" ]; then say "built by another process: $BIN"; echo "$BIN"; exit 0; fi

start=$(date +%s)
say "building github.com/minio/minio@$MINIO_VERSION (several minutes on 2 cores)"
# Into a temporary GOBIN, then renamed: an interrupted build never leaves a broken binary.
tmp="$MINIO_DIR/bin.tmp"
rm -rf "$tmp"; mkdir -p "$tmp"
CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod GOBIN="$tmp" \
  go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
[ -x "$tmp/minio" ] || die "go install finished but $tmp/minio is missing"
mv "$tmp/minio" "$BIN"
rm -rf "$tmp"
say "done in $(( $(date +%s) - start ))s: $BIN"
echo "$BIN"
