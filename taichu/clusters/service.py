"""Clusters: registration by kubeconfig, listing, details, deletion, topology."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.clusters import events
from taichu.clusters.models import SOURCE_CREATED, Cluster
from taichu.clusters.probe import MAX_ERROR_LENGTH, ProbeResult, probe_cluster
from taichu.clusters.selectors import labelled_page
from taichu.context import AppContext
from taichu.crypto import SecretBox
from taichu.db.search import contains_text
from taichu.errors import Conflict, Forbidden, Invalid, NotFound
from taichu.kube import ClusterAccess, parse_kubeconfig, render_kubeconfig
from taichu.kube.access import shown
from taichu.kube.targets import TargetPolicy, check_server
from taichu.timeutil import utcnow

log = logging.getLogger("taichu.clusters")


@dataclass
class NewCluster:
    name: str
    description: str
    kubeconfig: str
    labels: dict[str, str]
    context: str | None = None
    insecure_skip_tls_verify: bool = False
    environment_type: str = "default"
    region: str = "default"


def ensure_may_manage(principal: Principal, cluster: Cluster | None) -> None:
    """Admins, and the user who added the cluster (by id: a deleted user's name may be
    registered again by someone else), may manage a cluster and read what is in it."""
    if principal.is_admin:
        return
    if cluster is None or cluster.owner_id != principal.user_id:
        raise Forbidden("Only an admin or the user who added the cluster may do this")


def ensure_may_bind(principal: Principal, cluster: Cluster) -> None:
    """Anyone may bind a Kubernetes account to a cluster an admin added. A user's own
    cluster is theirs alone (and admins'): its server is that user's choice, and a token
    bound to it would be sent there."""
    if cluster.shared or principal.is_admin or cluster.owner_id == principal.user_id:
        return
    raise Forbidden(
        f"cluster {cluster.name} was added by another user: only they or an admin may bind "
        "an account to it"
    )


async def managed_cluster(session: AsyncSession, principal: Principal, cluster_id: str) -> Cluster:
    """The cluster (404 if there is none), if the caller may manage it (403 if not)."""
    cluster = await get_cluster(session, cluster_id)
    ensure_may_manage(principal, cluster)
    return cluster


def target_policy(app: AppContext, caller: Principal | None) -> TargetPolicy:
    """Where `caller` may register clusters (no caller: the platform itself, as an admin)."""
    is_admin = caller is None or caller.is_admin
    return TargetPolicy.for_caller(is_admin, app.settings.kube.allowed_networks)


def connect_policy(app: AppContext, cluster: Cluster) -> TargetPolicy | None:
    """What connections to a stored cluster may reach: a non-admin's registration keeps its
    registration rules at every connect (a name rebound to loopback later is refused).
    A created cluster's address is a machine of the inventory, which only admins write."""
    if cluster.shared or cluster.source == SOURCE_CREATED:
        return None
    return TargetPolicy.for_caller(False, app.settings.kube.allowed_networks)


async def validated_access(
    app: AppContext, new: NewCluster, caller: Principal | None
) -> ClusterAccess:
    """A new kubeconfig, validated (in a thread: a large document takes a while to parse),
    whose server the caller may use (422, or 413 when the document is too large)."""
    settings = app.settings.kube
    access = await asyncio.to_thread(
        parse_kubeconfig,
        new.kubeconfig,
        new.context,
        allow_insecure=new.insecure_skip_tls_verify,
        max_bytes=settings.max_kubeconfig_kib * 1024,
    )
    where = f"kubeconfig clusters[{shown(access.cluster or '')}].cluster.server"
    policy = target_policy(app, caller)
    await check_server(access.server, policy, where, settings.connect_timeout_seconds)
    # The registration's own probe connects under the same rules (no rebinding in between).
    return access if policy.allow_loopback else access.restricted(policy)


def require_credentials(cluster: Cluster) -> None:
    """422 unless the platform holds credentials of its own for the cluster."""
    if not cluster.kubeconfig_encrypted:
        raise Invalid(
            f"cluster {cluster.name} has no platform credentials: it was registered by "
            "address; bind a service-account token (POST /api/auth/k8s/account/bind/)"
        )


def access_for(cluster: Cluster, app: AppContext) -> ClusterAccess:
    """The platform's own access to a cluster (from its stored, encrypted kubeconfig), with
    the cluster's further API servers to fail over to; parsed once per kubeconfig
    (`app.accesses`)."""
    require_credentials(cluster)
    policy = connect_policy(app, cluster)
    key = (cluster.kubeconfig_encrypted, tuple(cluster.fallback_api_servers or ()), policy)
    cached = app.accesses.get(cluster.id, key)
    if cached is not None:
        return cached
    access = parse_kubeconfig(
        app.box.decrypt(cluster.kubeconfig_encrypted),
        allow_insecure=cluster.insecure_skip_tls_verify,
    ).restricted(policy)
    if key[1]:
        access = access.with_fallbacks(key[1])
    app.accesses.put(cluster.id, key, access)
    return access


async def reach(app: AppContext, cluster_key: str, access: ClusterAccess) -> ProbeResult:
    """Probe a cluster that is not stored yet. Call with no transaction open."""
    async with app.kube.client(cluster_key, access) as kube:
        return await probe_cluster(
            kube, app.settings.cluster_probe_timeout, app.settings.cluster_node_list_timeout
        )


UNREACHABLE_FOR_USERS = (
    "no Kubernetes API server answered there (refused, timed out or not TLS: an admin finds "
    "which in the server log)"
)


def unreachable_reason(by_admin: bool, server: str, reason: str) -> str:
    """Why a new registration's server could not be reached, as the caller may see it.
    Only admins see the transport's own words: "refused", "timed out" and "not TLS" tell
    closed, silent and open ports apart, which would make registration a port scanner of
    the platform's network for any user."""
    if by_admin:
        return reason
    log.info("a user's registration could not reach %s: %s", server, reason)
    return UNREACHABLE_FOR_USERS


def ensure_usable(result: ProbeResult, access: ClusterAccess, caller: Principal | None) -> None:
    """A new registration must work now; otherwise nothing is stored (422 with why)."""
    if result.status in ("disconnected", "error"):
        reason = result.error or result.status
        if result.status == "disconnected":
            reason = unreachable_reason(caller is None or caller.is_admin, access.server, reason)
        raise Invalid(f"kubeconfig: cannot use cluster at {access.server}: {reason}")


async def name_taken(session: AsyncSession, name: str) -> bool:
    return await session.scalar(select(Cluster.id).where(Cluster.name == name)) is not None


def apply_probe(cluster: Cluster, result: ProbeResult) -> None:
    cluster.status = result.status
    # Bounded: shown to every user of GET /clusters (probe messages are already short).
    cluster.last_probe_error = result.error[:MAX_ERROR_LENGTH] if result.error else None
    if result.status in ("healthy", "unhealthy"):
        cluster.version = result.version
        cluster.last_heartbeat_at = utcnow()
        if result.nodes_read:  # else the node list was too slow: the last totals stay
            cluster.node_count = result.node_count
            cluster.ready_node_count = result.ready_node_count
            cluster.total_cpu_cores = result.total_cpu_cores
            cluster.total_memory_bytes = result.total_memory_bytes
            cluster.total_storage_bytes = result.total_storage_bytes


async def insert_cluster(
    session: AsyncSession,
    box: SecretBox,
    new: NewCluster,
    access: ClusterAccess,
    *,
    source: str,
    status: str,
    owner: Principal | None,
) -> Cluster:
    if await name_taken(session, new.name):
        raise Conflict(f"cluster name '{new.name}' already exists")
    cluster = Cluster(
        name=new.name,
        description=new.description,
        labels=new.labels,
        source=source,
        environment_type=new.environment_type,
        region=new.region,
        status=status,
        api_server_url=access.server,
        created_by=owner.username if owner else None,
        owner_id=owner.user_id if owner else None,
        # Only the chosen context is kept: other contexts' credentials are not ours to hold.
        kubeconfig_encrypted=box.encrypt(render_kubeconfig(access, new.name)),
        insecure_skip_tls_verify=access.insecure,
        shared=owner is None or owner.is_admin,
    )
    await store_new(session, cluster)
    return cluster


async def store_new(session: AsyncSession, cluster: Cluster) -> None:
    """Insert `cluster` in a savepoint: a concurrent insert of its name (both passed
    `name_taken`) is the same 409, and the request's transaction stays usable. Added inside
    the savepoint, since opening one flushes what is pending outside it."""
    try:
        async with session.begin_nested():
            session.add(cluster)
            await session.flush()
    except IntegrityError as e:
        raise Conflict(f"cluster name '{cluster.name}' already exists") from e


async def register(
    app: AppContext, session: AsyncSession, new: NewCluster, owner: Principal | None
) -> Cluster:
    """Validate, reach the cluster (before any database work: no transaction is held
    across the call), then store it with what the first probe saw."""
    access = await validated_access(app, new, owner)
    try:  # ReadBudgetExhausted passes through: 503, the platform is busy, retry later
        result = await reach(app, f"new:{new.name}", access)
    finally:
        await app.kube.invalidate(f"new:{new.name}")
    ensure_usable(result, access, owner)
    cluster = await insert_cluster(
        session, app.box, new, access, source="manual", status="unknown", owner=owner
    )
    apply_probe(cluster, result)
    await events.record(
        session,
        cluster.id,
        reason="Registered",
        severity="info",
        message=f"Cluster {cluster.name} registered ({access.server}, {result.version})",
    )
    audit.note(
        resource="cluster",
        resource_id=cluster.id,
        cluster_id=cluster.id,
        new_value={
            "name": cluster.name,
            "api_server_url": cluster.api_server_url,
            "labels": new.labels,
            "status": cluster.status,
        },
    )
    return cluster


async def get_cluster(session: AsyncSession, cluster_id: str) -> Cluster:
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound(f"cluster {cluster_id} not found")
    return cluster


async def list_clusters(
    session: AsyncSession,
    *,
    status: str | None,
    label_selector: str | None,
    search: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Cluster], int]:
    query = select(Cluster)
    if status:
        query = query.where(Cluster.status == status)
    if search:
        query = query.where(contains_text(search, Cluster.name, Cluster.description))
    query = query.order_by(Cluster.created_at, Cluster.id)
    return await labelled_page(
        session,
        query,
        label_selector=label_selector,
        id_column=Cluster.id,
        offset=offset,
        limit=limit,
    )


async def delete_cluster(app: AppContext, session: AsyncSession, cluster_id: str) -> None:
    cluster = await get_cluster(session, cluster_id)
    audit.note(
        resource="cluster",
        resource_id=cluster.id,
        cluster_id=cluster.id,
        old_value={"name": cluster.name, "api_server_url": cluster.api_server_url},
    )
    await session.delete(cluster)
    await session.flush()
    app.accesses.drop(cluster_id)
    await app.observe.invalidate(cluster_id)  # its watches borrow kube clients: first
    await app.kube.invalidate(cluster_id)


def topology(clusters: list[Cluster]) -> dict[str, Any]:
    groups: dict[str, list[Cluster]] = {}
    for cluster in clusters:
        groups.setdefault(cluster.environment_type or "default", []).append(cluster)
    environments = []
    for env_type in sorted(groups):
        members = groups[env_type]
        environments.append(
            {
                "type": env_type,
                "count": len(members),
                "clusters": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "status": c.status,
                        "node_count": c.node_count,
                        "version": c.version,
                    }
                    for c in members
                ],
                "total_node_count": sum(c.node_count for c in members),
                "healthy_clusters": sum(c.status == "healthy" for c in members),
                "unhealthy_clusters": sum(c.status != "healthy" for c in members),
            }
        )
    return {
        "environments": environments,
        "summary": {
            "total_clusters": len(clusters),
            "total_environments": len(groups),
            "total_nodes": sum(c.node_count for c in clusters),
            "healthy_clusters": sum(c.status == "healthy" for c in clusters),
        },
    }


async def all_clusters(session: AsyncSession) -> list[Cluster]:
    return list(await session.scalars(select(Cluster).order_by(Cluster.name)))
