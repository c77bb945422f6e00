"""Runtime-family reads (nodes, pods, resources), run as the caller's own Kubernetes
identity so the cluster's RBAC decides what they may see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from taichu.auth.principal import Principal
from taichu.clusters.bindings import identity_for
from taichu.clusters.probe import node_is_ready
from taichu.clusters.service import get_cluster
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import Forbidden, NotFound, TaichuError, Unavailable
from taichu.kube import CredentialsRejected, KubeClient
from taichu.kube.quantity import byte_count, cpu_cores
from taichu.observe.slim import pod_amount

TERMINATED = ("Succeeded", "Failed")
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


@asynccontextmanager
async def as_caller(
    app: AppContext, principal: Principal, cluster_id: str
) -> AsyncIterator[KubeClient]:
    async with transaction(app.sessions) as session:
        cluster = await get_cluster(session, cluster_id)
        access, identity = await identity_for(app, session, principal, cluster)
    try:
        async with app.kube.client(cluster.id, access, identity) as kube:
            yield kube
    except CredentialsRejected as e:
        # The user's bound token no longer works; their platform session is fine.
        raise Forbidden(f"your bound Kubernetes token was rejected by the cluster: {e.message}; "
                        "bind a new one (POST /api/auth/k8s/account/bind/)") from e


def node_summary(node: dict[str, Any]) -> dict[str, Any]:
    meta, status = node.get("metadata", {}), node.get("status", {})
    labels = meta.get("labels") or {}
    roles = sorted(k.rsplit("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    capacity = status.get("capacity") or {}
    return {
        "name": meta.get("name"),
        "status": "ready" if node_is_ready(node) else "not_ready",
        "roles": roles or ["worker"],
        "internal_ip": addresses.get("InternalIP"),
        "kubelet_version": (status.get("nodeInfo") or {}).get("kubeletVersion"),
        "cpu_cores": cpu_cores(capacity.get("cpu")),
        "memory_bytes": byte_count(capacity.get("memory")),
        "pods_capacity": int(cpu_cores(capacity.get("pods"))),
        "labels": labels,
        "created_at": meta.get("creationTimestamp"),
    }


def pod_summary(pod: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    containers = status.get("containerStatuses") or []
    ready = sum(bool(c.get("ready")) for c in containers)
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "status": status.get("phase", "Unknown"),
        "node": spec.get("nodeName"),
        "pod_ip": status.get("podIP"),
        "ready": f"{ready}/{len(spec.get('containers') or [])}",
        "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
        "created_at": meta.get("creationTimestamp"),
    }


def pod_requests(pod: dict[str, Any]) -> tuple[float, int]:
    """Effective requests, as the scheduler computes them (see `slim.pod_amount`)."""
    spec = pod.get("spec", {})
    return pod_amount(spec, "requests", "cpu"), int(pod_amount(spec, "requests", "memory"))


async def list_nodes(app: AppContext, principal: Principal, cluster_id: str) -> list[Any]:
    async with as_caller(app, principal, cluster_id) as kube:
        nodes, _ = await kube.list_all("/api/v1/nodes", {"resourceVersion": "0"})
    return [node_summary(n) for n in nodes]


async def list_pods(
    app: AppContext, principal: Principal, cluster_id: str, namespace: str | None
) -> list[Any]:
    path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
    async with as_caller(app, principal, cluster_id) as kube:
        pods, _ = await kube.list_all(path, {"resourceVersion": "0"})
    return [pod_summary(p) for p in pods]


async def _node_usage(kube: KubeClient) -> dict[str, tuple[float, int]] | None:
    """Per-node usage from the metrics API, or None when the cluster does not serve it."""
    try:
        metrics = await kube.get("/apis/metrics.k8s.io/v1beta1/nodes")
    except (NotFound, Unavailable, Forbidden):
        return None
    except TaichuError:
        return None
    return {
        item["metadata"]["name"]: (
            cpu_cores(item.get("usage", {}).get("cpu")),
            byte_count(item.get("usage", {}).get("memory")),
        )
        for item in metrics.get("items", [])
    }


async def resources(app: AppContext, principal: Principal, cluster_id: str) -> dict[str, Any]:
    async with as_caller(app, principal, cluster_id) as kube:
        nodes, _ = await kube.list_all("/api/v1/nodes", {"resourceVersion": "0"})
        pods, _ = await kube.list_all("/api/v1/pods", {"resourceVersion": "0"})
        usage = await _node_usage(kube)
    requested: dict[str, list[float]] = {}
    for pod in pods:
        node_name = pod.get("spec", {}).get("nodeName")
        if not node_name or pod.get("status", {}).get("phase") in TERMINATED:
            continue
        cpu, memory = pod_requests(pod)
        entry = requested.setdefault(node_name, [0.0, 0])
        entry[0] += cpu
        entry[1] += memory
    rows = []
    for node in nodes:
        name = node["metadata"]["name"]
        status = node.get("status", {})
        cap, alloc = status.get("capacity") or {}, status.get("allocatable") or {}
        req = requested.get(name, [0.0, 0])
        used = usage.get(name) if usage is not None else None
        rows.append({
            "name": name,
            "capacity": {"cpu": cpu_cores(cap.get("cpu")), "memory": byte_count(cap.get("memory"))},
            "allocatable": {"cpu": cpu_cores(alloc.get("cpu")),
                            "memory": byte_count(alloc.get("memory"))},
            "requested": {"cpu": round(req[0], 3), "memory": int(req[1])},
            "used": {"cpu": used[0], "memory": used[1]} if used else None,
        })
    total = {
        key: {
            "cpu": round(sum(r[key]["cpu"] for r in rows), 3),
            "memory": sum(r[key]["memory"] for r in rows),
        }
        for key in ("capacity", "allocatable", "requested")
    }
    total["used"] = (
        {"cpu": round(sum(r["used"]["cpu"] for r in rows if r["used"]), 3),
         "memory": sum(r["used"]["memory"] for r in rows if r["used"])}
        if usage is not None else None
    )
    return {
        "cluster_id": cluster_id,
        "metrics_available": usage is not None,
        "nodes": rows,
        "total": total,
    }
