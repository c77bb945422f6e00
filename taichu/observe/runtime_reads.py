"""Runtime-family reads (nodes, pods, resources), as the caller's own Kubernetes identity.

The cluster's RBAC decides what a caller may see: each read first asks the cluster, as the
caller, whether they may list what they asked for (a SelfSubjectAccessReview; the answer
is reused for `authorization_ttl_seconds`, see `access_decisions`). The data then comes
from the platform's watch-fed cache of the cluster, the one `/api/v1` serves nodes from, so
a read of a 50,000-pod cluster lists nothing. A cluster registered by address has no
platform credentials and so no cache: there the caller's identity lists directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taichu.auth.principal import Principal
from taichu.clusters.bindings import RuntimeIdentity, identity_for
from taichu.clusters.service import access_for, get_cluster
from taichu.context import AppContext
from taichu.errors import Forbidden, Unavailable
from taichu.kube import ClusterAccess, CredentialsRejected, KubeClient
from taichu.observe.cache import ClusterView
from taichu.observe.metrics import NodeMetrics, UsageSnapshot
from taichu.observe.slim import SlimNode, SlimPod, slim_node, slim_pod

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
NO_METRICS_RIGHTS = "your account may not read metrics.k8s.io"


@dataclass(frozen=True)
class Target:
    cluster_id: str
    cluster_name: str
    caller: RuntimeIdentity
    platform: ClusterAccess | None  # None: registered by address, no platform credentials

    @property
    def who(self) -> str:
        return f"{self.cluster_id}:{self.caller.access.fingerprint}"


async def _target(app: AppContext, principal: Principal, cluster_id: str) -> Target:
    async with app.read_sessions() as session:
        cluster = await get_cluster(session, cluster_id)
        caller = await identity_for(app, session, principal, cluster)
    platform = access_for(cluster, app.box) if cluster.kubeconfig_encrypted else None
    return Target(cluster.id, cluster.name, caller, platform)


@asynccontextmanager
async def _as_caller(app: AppContext, target: Target) -> AsyncIterator[KubeClient]:
    try:
        async with app.kube.client(target.cluster_id, target.caller.access,
                                   target.caller.key) as kube:
            yield kube
    except CredentialsRejected as e:
        # The user's bound token no longer works; their platform session is fine.
        raise Forbidden(f"your bound Kubernetes token was rejected by the cluster: {e.message}; "
                        "bind a new one (POST /api/auth/k8s/account/bind/)") from e


def forbidden_message(subject: str, resource: str, group: str, namespace: str | None) -> str:
    """The API server's own wording of an RBAC refusal."""
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return (f'{resource} is forbidden: User "{subject}" cannot list resource "{resource}" '
            f'in API group "{group}" {scope}')


async def _may_list(app: AppContext, target: Target, kube: KubeClient, resource: str,
                    group: str = "", namespace: str | None = None) -> bool:
    return await app.observe.decisions.allowed(kube, target.who, "list", resource, group,
                                               namespace)


async def _require_list(app: AppContext, target: Target, kube: KubeClient, resource: str,
                        namespace: str | None = None) -> None:
    if not await _may_list(app, target, kube, resource, namespace=namespace):
        raise Forbidden(forbidden_message(target.caller.subject, resource, "", namespace))


async def _view(app: AppContext, target: Target) -> ClusterView | None:
    """The platform's cache of the cluster, or None when it has no platform credentials."""
    if target.platform is None:
        return None
    try:
        return await app.observe.view(target.cluster_id, target.platform)
    except Unavailable as e:
        raise Unavailable(f"cluster {target.cluster_name}: {e.message}") from e


# --- shapes --------------------------------------------------------------------------------

def _stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def node_summary(node: SlimNode) -> dict[str, Any]:
    roles = sorted(k.removeprefix(NODE_ROLE_PREFIX) for k in node.labels
                   if k.startswith(NODE_ROLE_PREFIX))
    return {
        "name": node.name,
        "status": node.status,
        "roles": roles or ["worker"],
        "internal_ip": dict(node.addresses).get("InternalIP"),
        "kubelet_version": node.node_info.get("kubeletVersion"),
        "cpu_cores": node.cpu_capacity,
        "memory_bytes": node.memory_capacity,
        "pods_capacity": node.pods_capacity,
        "labels": node.labels,
        "created_at": _stamp(node.created_at),
    }


def pod_summary(pod: SlimPod) -> dict[str, Any]:
    return {
        "name": pod.name,
        "namespace": pod.namespace,
        "status": pod.phase,
        "node": pod.node_name,
        "pod_ip": pod.pod_ip,
        "ready": f"{pod.ready_containers}/{pod.total_containers}",
        "restarts": pod.restarts,
        "created_at": _stamp(pod.created_at),
    }


def _cpu_memory(cpu: float, memory: int) -> dict[str, Any]:
    return {"cpu": round(cpu, 3), "memory": int(memory)}


def resources_body(cluster_id: str, nodes: list[SlimNode],
                   requested: Callable[[str], tuple[float, int]],
                   usage: UsageSnapshot) -> dict[str, Any]:
    rows = []
    for node in nodes:
        used = usage.of(node.name) if usage.available else None
        rows.append({
            "name": node.name,
            "capacity": _cpu_memory(node.cpu_capacity, node.memory_capacity),
            "allocatable": _cpu_memory(node.cpu_allocatable, node.memory_allocatable),
            "requested": _cpu_memory(*requested(node.name)),
            "used": _cpu_memory(*used) if used else None,
        })
    total: dict[str, Any] = {
        key: _cpu_memory(sum(r[key]["cpu"] for r in rows), sum(r[key]["memory"] for r in rows))
        for key in ("capacity", "allocatable", "requested")
    }
    total["used"] = (_cpu_memory(sum(r["used"]["cpu"] for r in rows if r["used"]),
                                 sum(r["used"]["memory"] for r in rows if r["used"]))
                     if usage.available else None)
    return {"cluster_id": cluster_id, "metrics_available": usage.available, "nodes": rows,
            "total": total}


# --- reads ---------------------------------------------------------------------------------

async def _listed(kube: KubeClient, path: str) -> list[dict[str, Any]]:
    items, _ = await kube.list_all(path, {"resourceVersion": "0"})
    return items


async def list_nodes(app: AppContext, principal: Principal, cluster_id: str) -> list[Any]:
    target = await _target(app, principal, cluster_id)
    async with _as_caller(app, target) as kube:
        await _require_list(app, target, kube, "nodes")
        view = await _view(app, target)
        nodes = view.nodes() if view else [slim_node(n) for n in
                                           await _listed(kube, "/api/v1/nodes")]
    return [node_summary(n) for n in nodes]


async def list_pods(
    app: AppContext, principal: Principal, cluster_id: str, namespace: str | None
) -> list[Any]:
    target = await _target(app, principal, cluster_id)
    async with _as_caller(app, target) as kube:
        await _require_list(app, target, kube, "pods", namespace)
        view = await _view(app, target)
        if view is not None:
            pods = view.pods(namespace)
        else:
            path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
            pods = sorted((slim_pod(p) for p in await _listed(kube, path)),
                          key=lambda p: (p.namespace, p.name))
    return [pod_summary(p) for p in pods]


async def resources(app: AppContext, principal: Principal, cluster_id: str) -> dict[str, Any]:
    target = await _target(app, principal, cluster_id)
    async with _as_caller(app, target) as kube:
        await _require_list(app, target, kube, "nodes")
        await _require_list(app, target, kube, "pods")
        view = await _view(app, target)
        if view is not None:
            nodes, requested = view.nodes(), view.requested
        else:
            nodes = [slim_node(n) for n in await _listed(kube, "/api/v1/nodes")]
            requested = _requested_by_node(await _listed(kube, "/api/v1/pods"))
        if not await _may_list(app, target, kube, "nodes", "metrics.k8s.io"):
            usage = UsageSnapshot(False, NO_METRICS_RIGHTS)
        elif view is not None:
            usage = await view.usage()
        else:
            usage = await _direct_usage(app, kube)
    return resources_body(cluster_id, nodes, requested, usage)


def _requested_by_node(pods: list[dict[str, Any]]) -> Callable[[str], tuple[float, int]]:
    """Summed requests of each node's non-terminated pods (the cache keeps these itself)."""
    by_node: dict[str, tuple[float, int]] = {}
    for pod in map(slim_pod, pods):
        if pod.node_name and not pod.terminated:
            cpu, memory = by_node.get(pod.node_name, (0.0, 0))
            by_node[pod.node_name] = (cpu + pod.cpu_requests, memory + pod.memory_requests)
    return lambda name: by_node.get(name, (0.0, 0))


async def _direct_usage(app: AppContext, kube: KubeClient) -> UsageSnapshot:
    """Node usage read once through `kube` (no cache: the caller's own client)."""
    metrics = NodeMetrics(lambda: contextlib.nullcontext(kube), app.observe.settings)
    try:
        return await metrics.current()
    finally:
        await metrics.stop()
