"""The lab's Kubernetes binaries, built from Go modules by scripts/lab-build.sh and cached."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from taichu.lab.procs import LabError

K8S_VERSION = os.environ.get("TAICHU_LAB_K8S_VERSION", "v1.36.3")
KWOK_VERSION = os.environ.get("TAICHU_LAB_KWOK_VERSION", "v0.8.0")
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)

# What a real node and an artifact bundle need beside the control plane's (--with-node).
NODE_BINARIES = (
    "kubelet",
    "kube-proxy",
    "etcdctl",
    "etcdutl",  # etcd snapshots' status and restore (taichu.backups.etcd_*)
    "containerd",
    "ctr",
    "containerd-shim-runc-v2",
    "coredns",
    "flanneld",
    "pause",
    "taichu-apilb",  # a node's API-server endpoint when a cluster has several (scripts/apilb)
)

# kwok stage files the clusters load (the build copies exactly these; see lab-build.sh).
NODE_STAGES = ("node-initialize", "node-heartbeat-with-lease")
POD_STAGES = ("pod-ready", "pod-complete", "pod-delete")
METRICS_FILES = ("metrics-resource.yaml", "usage-from-annotation.yaml")

BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lab-build.sh"


@dataclass(frozen=True)
class LabBinaries:
    root: Path
    """`<cache>/k8s-<version>-kwok-<version>`: holds bin/ and stages/."""

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    @property
    def stage_files(self) -> list[Path]:
        return [self.root / "stages" / f"{s}.yaml" for s in (*NODE_STAGES, *POD_STAGES)]

    @property
    def metrics_files(self) -> list[Path]:
        """kwok's resource-metrics endpoint and usage-from-annotation configs."""
        return [self.root / "metrics" / f for f in METRICS_FILES]

    @property
    def has_metrics_server(self) -> bool:
        return os.access(self.bin("metrics-server"), os.X_OK) and all(
            f.is_file() for f in self.metrics_files
        )

    @property
    def has_node(self) -> bool:
        """kubelet, containerd and the rest of NODE_BINARIES are built."""
        return all(os.access(self.bin(b), os.X_OK) for b in NODE_BINARIES)

    @property
    def complete(self) -> bool:
        return all(os.access(self.bin(b), os.X_OK) for b in BINARIES) and all(
            f.is_file() for f in self.stage_files
        )


def default_root() -> Path:
    cache = Path(os.environ.get("TAICHU_LAB_CACHE", Path.home() / ".cache" / "taichu-lab"))
    return cache / f"k8s-{K8S_VERSION}-kwok-{KWOK_VERSION}"


def find_binaries(*, metrics_server: bool = False, node: bool = False) -> LabBinaries | None:
    """The cached binaries if complete (with the optional parts asked for), without
    building."""
    found = LabBinaries(default_root())
    if (
        found.complete
        and (found.has_metrics_server or not metrics_server)
        and (found.has_node or not node)
    ):
        return found
    return None


def ensure_binaries(
    *, metrics_server: bool = False, node: bool = False, timeout: float = 3600
) -> LabBinaries:
    """Return the binaries, building them first if needed (metrics-server and the node's
    only if asked).

    The script is idempotent and holds a lock, so concurrent callers (pytest-xdist workers)
    wait for one build instead of racing; a warm call takes milliseconds.
    """
    found = find_binaries(metrics_server=metrics_server, node=node)
    if found:
        return found
    if not BUILD_SCRIPT.is_file():
        raise LabError(f"lab binaries missing and build script not found: {BUILD_SCRIPT}")
    proc = subprocess.run(
        [
            "bash",
            str(BUILD_SCRIPT),
            *(["--with-metrics-server"] if metrics_server else []),
            *(["--with-node"] if node else []),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "TAICHU_LAB_K8S_VERSION": K8S_VERSION,
            "TAICHU_LAB_KWOK_VERSION": KWOK_VERSION,
        },
    )
    if proc.returncode != 0:
        log = "\n".join(proc.stderr.splitlines()[-40:])
        raise LabError(f"{BUILD_SCRIPT} failed with code {proc.returncode}:\n{log}")
    root = Path(proc.stdout.strip().splitlines()[-1])
    built = LabBinaries(root)
    if (
        not built.complete
        or (metrics_server and not built.has_metrics_server)
        or (node and not built.has_node)
    ):
        raise LabError(f"{BUILD_SCRIPT} finished but {root} is incomplete")
    return built
