"""Simulated nodes: the lab creates Node objects, kwok makes them Ready and runs their pods."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taichu.lab.kubeapi import ApiError, KubeApi
from taichu.lab.metrics import node_extras
from taichu.lab.procs import LabError

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
WORKER_LABEL = "node-role.kubernetes.io/worker"
LAB_LABEL = "lab.taichu.dev/kwok"
PARALLELISM = 16


def node_manifest(
    name: str,
    *,
    role: str,
    ip: str,
    kubelet_version: str,
    labels: Mapping[str, str] | None = None,
    cpu: str = "8",
    memory: str = "32Gi",
    pods: int = 110,
    metrics: bool = False,
) -> dict[str, Any]:
    if role not in ("worker", "control-plane"):
        raise ValueError(f"role must be 'worker' or 'control-plane', not {role!r}")
    all_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        LAB_LABEL: "true",
        CONTROL_PLANE_LABEL if role == "control-plane" else WORKER_LABEL: "",
        **(labels or {}),
    }
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "100Gi"}
    taints = (
        [{"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}] if role == "control-plane" else []
    )
    annotations = {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}
    addresses = [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]
    if metrics:
        extra_annotations, extra_address = node_extras(name)
        annotations.update(extra_annotations)
        addresses.append(extra_address)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": annotations},
        "spec": {"taints": taints},
        # A kubelet registers its node with capacity and addresses; kwok's node-initialize
        # stage keeps what is set here and adds the conditions, so nodes differ like real ones.
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": addresses,
            "nodeInfo": {
                "kubeletVersion": kubelet_version,
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "kwok simulated node",
                "machineID": uuid.uuid4().hex,
                "systemUUID": str(uuid.uuid4()),
                "bootID": str(uuid.uuid4()),
            },
        },
    }


def _parallel(fn: Callable[[Any], object], items: Iterable[Any]) -> None:
    items = list(items)
    if not items:
        return
    with ThreadPoolExecutor(max_workers=min(PARALLELISM, len(items))) as pool:
        # list() re-raises the first failure after every call has finished.
        list(pool.map(fn, items))


def create(api: KubeApi, manifests: list[dict[str, Any]]) -> None:
    _parallel(lambda m: api.create("/api/v1/nodes", m), manifests)


def delete(api: KubeApi, names: Iterable[str]) -> None:
    _parallel(lambda n: api.delete(f"/api/v1/nodes/{n}"), names)


def list_nodes(api: KubeApi, label_selector: str | None = None) -> list[dict[str, Any]]:
    params = {"resourceVersion": "0"}  # served from the watch cache: cheap at 2,000 nodes
    if label_selector:
        params["labelSelector"] = label_selector
    items: list[dict[str, Any]] = api.get("/api/v1/nodes", **params)["items"]
    return items


def is_ready(node: Mapping[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_ready(
    api: KubeApi, names: Iterable[str], timeout: float, check: Callable[[], None]
) -> None:
    """Wait until all `names` are Ready; `check` raises if a component died meanwhile."""
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending:
        check()
        try:
            ready = {
                n["metadata"]["name"] for n in list_nodes(api, f"{LAB_LABEL}=true") if is_ready(n)
            }
        except ApiError:
            ready = set()
        pending -= ready
        if not pending:
            return
        if time.monotonic() > deadline:
            sample = ", ".join(sorted(pending)[:5])
            raise LabError(f"{len(pending)} nodes not Ready after {timeout:.0f}s (e.g. {sample})")
        time.sleep(0.5 if len(pending) < 100 else 2.0)
