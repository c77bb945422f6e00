"""Importing an existing cluster: a job that validates the kubeconfig, reaches the API
server, authenticates, checks the permissions the platform needs and the version, and
counts what is there. A failed import leaves no cluster (and no credentials) behind."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.clusters import events
from taichu.clusters.models import Cluster, ClusterImport
from taichu.clusters.probe import probe_cluster
from taichu.clusters.service import (
    NewCluster,
    access_for,
    apply_probe,
    insert_cluster,
    unreachable_reason,
    validated_access,
)
from taichu.context import AppContext
from taichu.db.base import COMPLETED
from taichu.db.session import transaction
from taichu.errors import NotFound, TaichuError
from taichu.jobs import service as jobs
from taichu.jobs import tracked
from taichu.jobs.registry import JobContext, JobRegistry, PermanentJobError
from taichu.kube import ClusterUnreachable, CredentialsRejected, KubeClient
from taichu.users.models import User

IMPORT_KIND = "cluster.import"
MIN_MINOR_VERSION = 24  # oldest Kubernetes minor the platform supports
# What the platform must be allowed to do (verb, resource, group).
REQUIRED_PERMISSIONS = [
    ("list", "nodes", ""),
    ("list", "namespaces", ""),
    ("list", "pods", ""),
    ("list", "events", ""),
    ("list", "deployments", "apps"),
]
COUNTED = {
    "nodes": "/api/v1/nodes",
    "namespaces": "/api/v1/namespaces",
    "pods": "/api/v1/pods",
    "services": "/api/v1/services",
    "deployments": "/apis/apps/v1/deployments",
    "statefulsets": "/apis/apps/v1/statefulsets",
    "daemonsets": "/apis/apps/v1/daemonsets",
}


async def start_import(
    app: AppContext,
    session: AsyncSession,
    new: NewCluster,
    import_source: str,
    owner: Principal | None,
) -> ClusterImport:
    """The kubeconfig and where it points are checked now (422, nothing stored);
    reaching the cluster is the job's."""
    access = await validated_access(app, new, owner)
    cluster = await insert_cluster(
        session, app.box, new, access, source="import", status="pending", owner=owner
    )
    record = ClusterImport(
        cluster_id=cluster.id,
        import_source=import_source,
        imported_by=owner.username if owner else None,
        imported_by_id=owner.user_id if owner else None,
        validation_results={"kubeconfig_valid": True},
    )
    session.add(record)
    await session.flush()
    job = await jobs.enqueue(session, IMPORT_KIND, {"import_id": record.id}, max_attempts=1)
    record.job_id = job.id
    audit.note(
        resource="import",
        resource_id=record.id,
        cluster_id=cluster.id,
        new_value={
            "name": new.name,
            "import_source": import_source,
            "api_server_url": access.server,
            "environment_type": new.environment_type,
        },
    )
    return record


def parse_minor(version: str | None) -> int | None:
    match = re.match(r"v?1\.(\d+)", version or "")
    return int(match.group(1)) if match else None


async def _step(job: JobContext, record_id: str, progress: int, step: str, **results: Any) -> None:
    def merge(record: ClusterImport) -> None:
        if results:
            record.validation_results = {**record.validation_results, **results}

    await tracked.report(
        job,
        ClusterImport,
        record_id,
        progress,
        step,
        update=merge,
        missing="import record vanished",
    )


async def _count(kube: KubeClient) -> dict[str, int]:
    counts = {}
    for name, path in COUNTED.items():
        total = 0
        async for _ in kube.list(path, {"resourceVersion": "0"}):
            total += 1
        counts[name] = total
    return counts


async def run_import(job: JobContext) -> dict[str, Any]:
    record_id = job.payload["import_id"]
    async with transaction(job.sessions) as session:
        record = await session.get(ClusterImport, record_id)
        cluster = await session.get(Cluster, record.cluster_id) if record else None
        if record is None or cluster is None:
            raise PermanentJobError("import record or its cluster no longer exists")
        access = access_for(cluster, job.app)
        cluster_id, name = cluster.id, cluster.name
        importer = await session.get(User, record.imported_by_id) if record.imported_by_id else None
        by_admin = importer is None or importer.role == "admin"
    await _step(job, record_id, 10, "Connecting to API server")
    async with job.app.kube.client(cluster_id, access) as kube:
        try:
            ready, _detail = await kube.readyz()
        except TaichuError as e:
            await _step(job, record_id, 10, "Connecting to API server", api_server_reachable=False)
            reason = e.message
            if isinstance(e, ClusterUnreachable):
                reason = unreachable_reason(by_admin, access.server, e.message)
            raise PermanentJobError(f"cannot reach the API server: {reason}") from e
        await _step(
            job, record_id, 25, "Authenticating", api_server_reachable=True, api_server_ready=ready
        )
        try:
            version = (await kube.version()).get("gitVersion")
            allowed = {}
            for verb, resource, group in REQUIRED_PERMISSIONS:
                label = f"{verb} {f'{group}/' if group else ''}{resource}"
                allowed[label] = await kube.self_subject_access_review(verb, resource, group)
        except CredentialsRejected as e:
            await _step(job, record_id, 25, "Authenticating", authenticated=False)
            raise PermanentJobError(f"the cluster refused the credentials: {e.message}") from e
        except TaichuError as e:
            await _step(job, record_id, 25, "Authenticating", authenticated=False)
            raise PermanentJobError(f"cannot use the API server: {e.message}") from e
        await _step(
            job, record_id, 45, "Checking permissions", authenticated=True, permissions=allowed
        )
        missing = [name for name, ok in allowed.items() if not ok]
        if missing:
            raise PermanentJobError(
                "the kubeconfig's identity lacks permissions the platform needs: "
                + ", ".join(missing)
                + " (grant them, e.g. bind the `view` ClusterRole)"
            )
        minor = parse_minor(version)
        supported = minor is not None and minor >= MIN_MINOR_VERSION
        await _step(
            job,
            record_id,
            60,
            "Checking version",
            kubernetes_version=version,
            version_supported=supported,
        )
        if not supported:
            raise PermanentJobError(
                f"Kubernetes {version} is not supported (v1.{MIN_MINOR_VERSION} or newer)"
            )
        await _step(job, record_id, 75, "Counting resources")
        counts = await _count(kube)
        settings = job.app.settings
        result = await probe_cluster(
            kube, settings.cluster_probe_timeout, settings.cluster_node_list_timeout
        )
    async with transaction(job.sessions) as session:
        record = await session.get(ClusterImport, record_id)
        cluster = await session.get(Cluster, cluster_id)
        if record is None or cluster is None:
            raise PermanentJobError("the cluster was deleted during the import")
        cluster.status = "unknown"
        apply_probe(cluster, result)
        record.end(COMPLETED)
        record.imported_resources = counts
        await events.record(
            session,
            cluster_id,
            reason="Imported",
            severity="info",
            message=f"Cluster {name} imported: {counts['nodes']} nodes, "
            f"{counts['namespaces']} namespaces, {counts['pods']} pods ({version})",
        )
    return {"cluster_id": cluster_id, "imported_resources": counts}


async def _drop_pending_cluster(session: AsyncSession, record: ClusterImport, _: str) -> None:
    cluster = await session.get(Cluster, record.cluster_id)
    if cluster is not None and cluster.status == "pending":
        # The pending cluster held the name and the encrypted kubeconfig: drop both.
        await session.delete(cluster)


async def get_import(session: AsyncSession, principal: Principal, import_id: str) -> ClusterImport:
    """An import, for an admin or the user who started it (others: not found)."""
    record = await session.get(ClusterImport, import_id)
    if record is None or not (principal.is_admin or record.imported_by_id == principal.user_id):
        raise NotFound(f"import {import_id} not found")
    return record


async def list_imports(
    session: AsyncSession,
    principal: Principal,
    *,
    import_source: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[ClusterImport], int]:
    """Every import for an admin; a user's own otherwise."""
    query = select(ClusterImport)
    if not principal.is_admin:
        query = query.where(ClusterImport.imported_by_id == principal.user_id)
    if import_source:
        query = query.where(ClusterImport.import_source == import_source)
    if status:
        query = query.where(ClusterImport.import_status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    ordered = query.order_by(ClusterImport.imported_at.desc(), ClusterImport.id)
    rows = await session.scalars(ordered.offset(offset).limit(limit))
    return list(rows), int(total or 0)


def register(registry: JobRegistry) -> None:
    registry.handler(IMPORT_KIND, max_attempts=1, timeout_seconds=600)(run_import)
    tracked.track_ends(
        registry, IMPORT_KIND, ClusterImport, "import_id", after_end=_drop_pending_cluster
    )
