"""Runtime-family reads (nodes, pods, resources), as the caller's own Kubernetes identity.

The cluster's RBAC decides what a caller may see: each read first asks the cluster, as the
caller, whether they may list what they asked for (a SelfSubjectAccessReview; the answer
is reused for `authorization_ttl_seconds`, see `access_decisions`). The data then comes
from the platform's watch-fed cache of the cluster, the one `/api/v1` serves nodes from, so
a read of a 50,000-pod cluster lists nothing. A cluster registered by address has no
platform credentials and so no cache: there the caller's identity lists directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from taichu.auth.principal import Principal
from taichu.clusters.bindings import RuntimeIdentity, identity_for
from taichu.clusters.service import access_for, get_cluster
from taichu.context import AppContext
from taichu.errors import Forbidden, Unavailable
from taichu.kube import (
    PLATFORM_IDENTITY,
    ClusterAccess,
    ClusterForbidden,
    CredentialsRejected,
    KubeClient,
)
from taichu.observe.cache import ClusterView, StoreView
from taichu.observe.metrics import UsageSnapshot, read_usage
from taichu.observe.slim import SlimNode, SlimPod
from taichu.timeutil import rfc3339

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"


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
    platform = access_for(cluster, app) if cluster.kubeconfig_encrypted else None
    return Target(cluster.id, cluster.name, caller, platform)


@asynccontextmanager
async def _as_caller(app: AppContext, target: Target) -> AsyncIterator[KubeClient]:
    """The cluster's answers to the caller's own identity, passed on on purpose: its RBAC
    refusal is the caller's 403 (the runtime family's contract), and a rejected bound
    token is a 403 telling them to bind a new one (their platform session is fine, so
    never a 401). Everything else stays a ClusterError (502/503)."""
    try:
        async with app.kube.client(
            target.cluster_id, target.caller.access, target.caller.key
        ) as kube:
            yield kube
    except CredentialsRejected as e:
        if target.caller.key == PLATFORM_IDENTITY:
            raise e.about(f"cluster {target.cluster_name}") from e  # the platform's, not theirs
        raise Forbidden(
            f"your bound Kubernetes token was rejected by the cluster: {e.message}; "
            "bind a new one (POST /api/auth/k8s/account/bind/)"
        ) from e
    except ClusterForbidden as e:
        raise Forbidden(e.message) from e


def forbidden_message(subject: str, resource: str, namespace: str | None) -> str:
    """The API server's own wording of an RBAC refusal to list a core resource."""
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return (
        f'{resource} is forbidden: User "{subject}" cannot list resource "{resource}" '
        f'in API group "" {scope}'
    )


async def _may_list(
    app: AppContext,
    target: Target,
    kube: KubeClient,
    resource: str,
    group: str = "",
    namespace: str | None = None,
) -> bool:
    return await app.observe.decisions.allowed(kube, target.who, "list", resource, group, namespace)


async def _require_list(
    app: AppContext, target: Target, kube: KubeClient, resource: str, namespace: str | None = None
) -> None:
    if not await _may_list(app, target, kube, resource, namespace=namespace):
        raise Forbidden(forbidden_message(target.caller.subject, resource, namespace))


async def _view(app: AppContext, target: Target) -> ClusterView | None:
    """The platform's cache of the cluster, or None when it has no platform credentials."""
    if target.platform is None:
        return None
    try:
        return await app.observe.view(target.cluster_id, target.platform)
    except Unavailable as e:
        raise Unavailable(f"cluster {target.cluster_name}: {e.message}") from e


# --- shapes --------------------------------------------------------------------------------


def node_summary(node: SlimNode) -> dict[str, Any]:
    roles = sorted(
        k.removeprefix(NODE_ROLE_PREFIX) for k in node.labels if k.startswith(NODE_ROLE_PREFIX)
    )
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
        "created_at": rfc3339(node.created_at),
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
        "created_at": rfc3339(pod.created_at),
    }


def _cpu_memory(cpu: float, memory: int) -> dict[str, Any]:
    return {"cpu": round(cpu, 3), "memory": int(memory)}


def resources_body(
    cluster_id: str,
    nodes: list[SlimNode],
    requested: Callable[[str], tuple[float, int]],
    usage: UsageSnapshot,
) -> dict[str, Any]:
    rows = []
    for node in nodes:
        used = usage.of(node.name) if usage.available else None
        rows.append(
            {
                "name": node.name,
                "capacity": _cpu_memory(node.cpu_capacity, node.memory_capacity),
                "allocatable": _cpu_memory(node.cpu_allocatable, node.memory_allocatable),
                "requested": _cpu_memory(*requested(node.name)),
                "used": _cpu_memory(*used) if used else None,
            }
        )
    total: dict[str, Any] = {
        key: _cpu_memory(sum(r[key]["cpu"] for r in rows), sum(r[key]["memory"] for r in rows))
        for key in ("capacity", "allocatable", "requested")
    }
    total["used"] = (
        _cpu_memory(
            sum(r["used"]["cpu"] for r in rows if r["used"]),
            sum(r["used"]["memory"] for r in rows if r["used"]),
        )
        if usage.available
        else None
    )
    return {
        "cluster_id": cluster_id,
        "metrics_available": usage.available,
        "nodes": rows,
        "total": total,
    }


# --- reads ---------------------------------------------------------------------------------


async def _listed(kube: KubeClient, path: str) -> list[dict[str, Any]]:
    items, _ = await kube.list_all(path, {"resourceVersion": "0"})
    return items


async def _store_view(
    app: AppContext, target: Target, kube: KubeClient, pods_path: str | None
) -> StoreView:
    """The platform's cache; without one, a one-off list of the nodes (and of the pods at
    `pods_path`) as the caller."""
    view = await _view(app, target)
    if view is not None:
        return view
    nodes = await _listed(kube, "/api/v1/nodes")
    return StoreView.listed(nodes, await _listed(kube, pods_path) if pods_path else [])


async def list_nodes(app: AppContext, principal: Principal, cluster_id: str) -> list[Any]:
    target = await _target(app, principal, cluster_id)
    async with _as_caller(app, target) as kube:
        await _require_list(app, target, kube, "nodes")
        view = await _store_view(app, target, kube, pods_path=None)
    return [node_summary(n) for n in view.nodes()]


async def list_pods(
    app: AppContext, principal: Principal, cluster_id: str, namespace: str | None
) -> list[Any]:
    target = await _target(app, principal, cluster_id)
    async with _as_caller(app, target) as kube:
        await _require_list(app, target, kube, "pods", namespace)
        view = await _view(app, target)
        if view is None:
            path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
            view = StoreView.listed([], await _listed(kube, path))
    return [pod_summary(p) for p in view.pods(namespace)]


async def resources(app: AppContext, principal: Principal, cluster_id: str) -> dict[str, Any]:
    target = await _target(app, principal, cluster_id)
    async with _as_caller(app, target) as kube:
        may_nodes, may_pods, may_metrics = await asyncio.gather(
            _may_list(app, target, kube, "nodes"),
            _may_list(app, target, kube, "pods"),
            _may_list(app, target, kube, "nodes", "metrics.k8s.io"),
        )
        for allowed, resource in ((may_nodes, "nodes"), (may_pods, "pods")):
            if not allowed:
                raise Forbidden(forbidden_message(target.caller.subject, resource, None))
        view = await _store_view(app, target, kube, pods_path="/api/v1/pods")
        if not may_metrics:
            usage = UsageSnapshot(False, None)
        elif isinstance(view, ClusterView):
            usage = await view.usage()
        else:
            usage = await read_usage(kube)
    return resources_body(cluster_id, view.nodes(), view.requested, usage)
