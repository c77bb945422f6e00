#!/usr/bin/env bash
# Builds the lab's Kubernetes parts from Go modules into a versioned cache outside the
# work tree: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok.
# Idempotent (a complete cache is left alone) and locked against concurrent runs.
# With --with-metrics-server it also builds metrics-server (its own module) and copies
# kwok's metrics configs into metrics/; a cache without them is completed in place.
# With --with-node it also builds what a real node and an artifact bundle need: kubelet,
# kube-proxy, etcdctl, etcdutl, containerd 2.x (+ctr, shim), CoreDNS, flanneld and a pause program.
set -euo pipefail

WITH_METRICS_SERVER=0
WITH_NODE=0
for arg in "$@"; do
  case "$arg" in
    --with-metrics-server) WITH_METRICS_SERVER=1 ;;
    --with-node) WITH_NODE=1 ;;
    *) echo "usage: $0 [--with-metrics-server] [--with-node]" >&2; exit 2 ;;
  esac
done

K8S_VERSION="${TAICHU_LAB_K8S_VERSION:-v1.36.3}"
KWOK_VERSION="${TAICHU_LAB_KWOK_VERSION:-v0.8.0}"
CACHE_ROOT="${TAICHU_LAB_CACHE:-$HOME/.cache/taichu-lab}"
LAB_DIR="$CACHE_ROOT/k8s-$K8S_VERSION-kwok-$KWOK_VERSION"
BIN_DIR="$LAB_DIR/bin"
STAGE_DIR="$LAB_DIR/stages"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)
METRICS_SERVER_VERSION="${TAICHU_LAB_METRICS_SERVER_VERSION:-v0.9.0}"
METRICS_DIR="$LAB_DIR/metrics"
NODE_BINARIES=(kubelet kube-proxy etcdctl etcdutl containerd ctr containerd-shim-runc-v2 coredns flanneld pause
  taichu-apilb)
CONTAINERD_VERSION="${TAICHU_LAB_CONTAINERD_VERSION:-v2.4.2}"
COREDNS_VERSION="${TAICHU_LAB_COREDNS_VERSION:-v1.15.0}"
FLANNEL_VERSION="${TAICHU_LAB_FLANNEL_VERSION:-v0.28.10}"
SCRIPTS_DIR="$(cd "$(dirname "$0")" && pwd)"

say() { printf '[lab-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The stage set the lab loads: kwokctl's "fast" node and pod stages plus lease heartbeats.
# Copied by explicit path because kustomize/stage also holds testdata inputs, chaos stages
# (which fail pods) and a "general" pod set whose file names collide with the fast ones.
STAGES=(node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease
  node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete)
STAGE_MARK="$STAGE_DIR/.kwok-$KWOK_VERSION-fast"

binaries_built() {
  for b in "${BINARIES[@]}"; do [ -x "$BIN_DIR/$b" ] || return 1; done
}
metrics_built() {
  [ -x "$BIN_DIR/metrics-server" ] && [ -f "$METRICS_DIR/usage-from-annotation.yaml" ]
}
node_built() {
  for b in "${NODE_BINARIES[@]}"; do [ -x "$BIN_DIR/$b" ] || return 1; done
}
complete() {
  binaries_built && [ -f "$STAGE_MARK" ] && { [ "$WITH_METRICS_SERVER" = 0 ] || metrics_built; } \
    && { [ "$WITH_NODE" = 0 ] || node_built; }
}

kwok_src() {
  local dir
  dir=$(cd "$CACHE_ROOT" && GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$dir/kustomize/stage" ] || die "kwok $KWOK_VERSION source not found in the module cache"
  echo "$dir"
}

copy_stages() {
  local kwok_dir tmp
  kwok_dir=$(kwok_src)
  tmp="$STAGE_DIR.tmp"
  rm -rf "$tmp"; mkdir -p "$tmp"
  for s in "${STAGES[@]}"; do cp "$kwok_dir/kustomize/stage/$s.yaml" "$tmp/"; done
  chmod -R u+w "$tmp"
  touch "$tmp/.kwok-$KWOK_VERSION-fast"
  rm -rf "$STAGE_DIR"; mv "$tmp" "$STAGE_DIR"
}

# metrics-server has no replace directives: `go install` builds it in its own module.
build_metrics_server() {
  local kwok_dir
  if [ ! -x "$BIN_DIR/metrics-server" ]; then
    say "building metrics-server $METRICS_SERVER_VERSION"
    CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS= GOBIN="$BIN_DIR" go install -trimpath \
      -ldflags "-s -w" "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  fi
  kwok_dir=$(kwok_src)
  mkdir -p "$METRICS_DIR"
  cp "$kwok_dir/kustomize/metrics/resource/metrics-resource.yaml" \
    "$kwok_dir/kustomize/metrics/usage/usage-from-annotation.yaml" "$METRICS_DIR/"
  chmod -R u+w "$METRICS_DIR"
}

k8s_stamp() {
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  echo "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
}

# A go install of one module's commands into bin/ (modules without replace directives).
install_module() {
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS= GOBIN="$BIN_DIR" go install -trimpath "$@"
}

# What a real node needs beside the control plane's binaries. Each part is skipped when
# present, so an interrupted build resumes.
build_node() {
  local etcd_version mod
  (
    cd "$LAB_DIR/src/kubernetes"
    export CGO_ENABLED=0 GOFLAGS="-mod=mod" GOTOOLCHAIN=local
    for cmd in kubelet kube-proxy; do
      [ -x "$BIN_DIR/$cmd" ] && continue
      say "building $cmd"
      go get "k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION" 2>&1 | tail -3 >&2
      go build -trimpath -tags selinux,notest -ldflags "-s -w $(k8s_stamp)" -o "$BIN_DIR/$cmd.tmp" \
        "k8s.io/kubernetes/cmd/$cmd"
      mv "$BIN_DIR/$cmd.tmp" "$BIN_DIR/$cmd"
    done
  )
  if [ ! -x "$BIN_DIR/etcdctl" ]; then
    # etcdctl's go.mod has replace directives: build it from a module of our own that
    # requires it at the etcd server's version.
    etcd_version=$(cd "$LAB_DIR/src/kubernetes" && GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
    mod="$LAB_DIR/src/etcdctl"
    mkdir -p "$mod"
    printf 'module taichu.local/lab/etcdctl\n\ngo 1.24\n' >"$mod/go.mod"
    say "building etcdctl $etcd_version"
    (cd "$mod" && export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      && go get "go.etcd.io/etcd/etcdctl/v3@$etcd_version" 2>&1 | tail -3 >&2 \
      && go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcdctl.tmp" go.etcd.io/etcd/etcdctl/v3)
    mv "$BIN_DIR/etcdctl.tmp" "$BIN_DIR/etcdctl"
  fi
  if [ ! -x "$BIN_DIR/etcdutl" ]; then
    # etcdutl (snapshot status and restore: etcdctl 3.6 no longer has them), the same way.
    etcd_version=$(cd "$LAB_DIR/src/kubernetes" && GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
    mod="$LAB_DIR/src/etcdutl"
    mkdir -p "$mod"
    printf 'module taichu.local/lab/etcdutl\n\ngo 1.24\n' >"$mod/go.mod"
    say "building etcdutl $etcd_version"
    (cd "$mod" && export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      && go get "go.etcd.io/etcd/etcdutl/v3@$etcd_version" 2>&1 | tail -3 >&2 \
      && go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcdutl.tmp" go.etcd.io/etcd/etcdutl/v3)
    mv "$BIN_DIR/etcdutl.tmp" "$BIN_DIR/etcdutl"
  fi
  if [ ! -x "$BIN_DIR/containerd-shim-runc-v2" ]; then
    say "building containerd $CONTAINERD_VERSION"
    local m=github.com/containerd/containerd/v2
    install_module -tags no_btrfs -ldflags "-s -w -X $m/version.Version=$CONTAINERD_VERSION" \
      "$m/cmd/containerd@$CONTAINERD_VERSION" "$m/cmd/ctr@$CONTAINERD_VERSION" \
      "$m/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
  fi
  if [ ! -x "$BIN_DIR/flanneld" ]; then
    # flannel links its tencent-vpc backend, whose SDK version the module proxy no longer
    # serves: a module of our own builds it with that SDK replaced by names that fail
    # (scripts/flannel/tencent-vpc-unused; the clusters use the host-gw backend).
    mod="$LAB_DIR/src/flannel"
    mkdir -p "$mod"
    {
      printf 'module taichu.local/lab/flannel\n\ngo 1.24\n\n'
      echo "replace github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc => $SCRIPTS_DIR/flannel/tencent-vpc-unused"
    } >"$mod/go.mod"
    say "building flannel $FLANNEL_VERSION"
    # Its udp backend is C (cgo): linked statically, it runs on any node like the rest.
    (cd "$mod" && export CGO_ENABLED=1 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      && go get "github.com/flannel-io/flannel@$FLANNEL_VERSION" 2>&1 | tail -3 >&2 \
      && go build -trimpath -ldflags "-s -w -extldflags -static \
        -X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" \
        -o "$BIN_DIR/flanneld.tmp" github.com/flannel-io/flannel)
    mv "$BIN_DIR/flanneld.tmp" "$BIN_DIR/flanneld"
  fi
  if [ ! -x "$BIN_DIR/coredns" ]; then
    say "building CoreDNS $COREDNS_VERSION (several minutes cold)"
    install_module -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  fi
  # Programs of our own (scripts/<name>/, standard library only).
  for own in pause:pause apilb:taichu-apilb; do
    [ -x "$BIN_DIR/${own#*:}" ] && continue
    say "building ${own#*:}"
    (cd "$SCRIPTS_DIR/${own%%:*}" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS= \
      go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/${own#*:}.tmp" .)
    mv "$BIN_DIR/${own#*:}.tmp" "$BIN_DIR/${own#*:}"
  done
}

# Parts a cache lacks when its binaries exist: stages (older caches), metrics-server, node.
finish() {
  [ -f "$STAGE_MARK" ] || { say "copying kwok stages"; copy_stages; }
  if [ "$WITH_METRICS_SERVER" = 1 ] && ! metrics_built; then build_metrics_server; fi
  if [ "$WITH_NODE" = 1 ] && ! node_built; then build_node; fi
  complete || die "build finished but parts are missing in $LAB_DIR"
}

if complete; then say "cached: $BIN_DIR"; echo "$LAB_DIR"; exit 0; fi

command -v go >/dev/null || die "Go is not installed (need Go 1.26+ with access to the Go module proxy)"
command -v flock >/dev/null || die "flock is missing (Debian package util-linux)"
mkdir -p "$BIN_DIR" "$STAGE_DIR"
exec 9>"$CACHE_ROOT/build.lock"
say "waiting for the build lock $CACHE_ROOT/build.lock"
flock 9
if complete; then say "built by another process: $BIN_DIR"; echo "$LAB_DIR"; exit 0; fi
if binaries_built; then finish; say "completed: $LAB_DIR"; echo "$LAB_DIR"; exit 0; fi

export CGO_ENABLED=0 GOFLAGS="-mod=mod" GOTOOLCHAIN=local
start=$(date +%s)

# --- Kubernetes (and etcd, at the version k8s.io/apiserver pins) -----------------------
K8S_MOD_DIR="$LAB_DIR/src/kubernetes"
mkdir -p "$K8S_MOD_DIR"
say "resolving k8s.io/kubernetes@$K8S_VERSION"
k8s_gomod=$(cd "$K8S_MOD_DIR" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
  | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$k8s_gomod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION (is the Go module proxy reachable?)"
staging_version="v0${K8S_VERSION#v1}"
{
  echo "module taichu.local/lab/kubernetes"
  echo
  grep -E '^(go|godebug) ' "$k8s_gomod"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  # Staging modules are required at v0.0.0 upstream; pin them to the matching release.
  grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$k8s_gomod" | awk '{print $1}' | sort -u \
    | while read -r m; do echo "replace $m => $m $staging_version"; done
} >"$K8S_MOD_DIR/go.mod"
cat >"$K8S_MOD_DIR/tools.go" <<'GO'
//go:build tools

package tools
GO

cd "$K8S_MOD_DIR"
say "fetching Kubernetes command packages (first run downloads several hundred modules)"
go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
  "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
  "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION" \
  "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" 2>&1 | tail -3 >&2
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
go get "go.etcd.io/etcd/server/v3@$etcd_version" 2>&1 | tail -3 >&2

stamp=$(k8s_stamp)
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$BIN_DIR/$cmd" ] && { say "$cmd already built"; continue; }
  say "building $cmd"
  go build -trimpath -tags selinux,notest -ldflags "-s -w $stamp" -o "$BIN_DIR/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$BIN_DIR/$cmd.tmp" "$BIN_DIR/$cmd"
done
if [ ! -x "$BIN_DIR/etcd" ]; then
  say "building etcd $etcd_version"
  go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
fi

# --- kwok, in its own module so its dependencies do not move Kubernetes' ---------------
if [ ! -x "$BIN_DIR/kwok" ]; then
  say "building kwok $KWOK_VERSION"
  GOBIN="$BIN_DIR" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
finish
say "done in $(( $(date +%s) - start ))s: $BIN_DIR"
echo "$LAB_DIR"
