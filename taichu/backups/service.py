"""Backups and restores as records: create (with their jobs), list, read, delete.

One backup or restore per cluster at a time: their jobs share the de-duplication key
`cluster-data:<cluster id>` (the source's for a backup, the target's for a restore), and
the job queue keeps at most one active job per key — a database constraint, so two
requests racing each other cannot both win."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.backups.etcd_snapshot import check_etcd_request
from taichu.backups.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    DELETED,
    Backup,
    Restore,
)
from taichu.backups.schemas import BackupCreate, RestoreCreate
from taichu.backups.storage import open_storage
from taichu.clusters.models import Cluster
from taichu.clusters.selectors import parse_selector
from taichu.clusters.service import require_credentials
from taichu.config import Settings
from taichu.errors import Conflict, Invalid, NotFound
from taichu.jobs import service as jobs
from taichu.jobs.models import Job
from taichu.timeutil import utcnow

BACKUP_KIND = "backup.run"
RESTORE_KIND = "restore.run"
PURGE_KIND = "backup.purge"


def cluster_key(cluster_id: str) -> str:
    return f"cluster-data:{cluster_id}"


def busy_message(job: Job) -> str:
    if job.kind == BACKUP_KIND:
        return f"backup {job.payload.get('backup_id')} of this cluster is still running"
    if job.kind == RESTORE_KIND:
        return f"restore {job.payload.get('restore_id')} into this cluster is still running"
    return f"job {job.id} ({job.kind}) holds this cluster"


async def claim_cluster(
    session: AsyncSession, cluster_id: str, kind: str, payload: dict[str, Any]
) -> Job:
    """Enqueue the job that backs up or restores `cluster_id`, or 409 if one is active."""
    job = await jobs.enqueue(session, kind, payload, dedup_key=cluster_key(cluster_id))
    if job.kind != kind or job.payload != payload:
        raise Conflict(
            f"a backup and a restore of the same cluster never run at once: {busy_message(job)}"
        )
    return job


def validate_options(backup_type: str, options: dict[str, Any], cluster: Cluster | None) -> None:
    if backup_type == "etcd":
        check_etcd_request(cluster, options)  # 422 for a cluster without machines
        return
    if backup_type == "namespaces" and not options.get("included_namespaces"):
        raise Invalid("included_namespaces: required when backup_type is namespaces")
    if options.get("label_selector"):
        parse_selector(options["label_selector"])  # 422 naming label_selector


def backup_options(body: BackupCreate | Any) -> dict[str, Any]:
    return {
        "included_namespaces": list(body.included_namespaces or []),
        "excluded_namespaces": list(body.excluded_namespaces or []),
        "label_selector": body.label_selector or None,
        "include_cluster_resources": body.include_cluster_resources,
    }


async def _get_cluster(session: AsyncSession, cluster_id: str) -> Cluster:
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound(f"cluster {cluster_id} not found")
    return cluster


async def cluster_or_history(session: AsyncSession, cluster_id: str) -> Cluster | None:
    """The cluster, or None if it is gone but its backups remain (restorable elsewhere)."""
    cluster = await session.get(Cluster, cluster_id)
    if (
        cluster is None
        and await session.scalar(select(Backup.id).where(Backup.cluster_id == cluster_id).limit(1))
        is None
    ):
        raise NotFound(f"cluster {cluster_id} not found")
    return cluster


async def new_backup(
    session: AsyncSession,
    settings: Settings,
    cluster: Cluster,
    *,
    name: str,
    backup_type: str,
    retention_days: int,
    options: dict[str, Any],
    created_by: str | None,
    schedule_id: str | None = None,
) -> Backup:
    """Insert a backup and claim its cluster (409 if busy); the caller commits."""
    validate_options(backup_type, options, cluster)
    open_storage(settings)  # a misconfigured backend fails now, not in the job
    taken = await session.scalar(
        select(Backup.id).where(
            Backup.cluster_id == cluster.id, Backup.backup_name == name, Backup.status != DELETED
        )
    )
    if taken is not None:
        raise Conflict(f"backup_name: a backup named '{name}' of this cluster exists")
    backup = Backup(
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        backup_name=name,
        backup_type=backup_type,
        retention_days=retention_days,
        options=options,
        storage_backend=settings.backups.storage,
        created_by=created_by,
        schedule_id=schedule_id,
    )
    session.add(backup)
    await session.flush()
    job = await claim_cluster(session, cluster.id, BACKUP_KIND, {"backup_id": backup.id})
    backup.job_id = job.id
    return backup


async def create_backup(
    session: AsyncSession,
    settings: Settings,
    cluster_id: str,
    body: BackupCreate,
    created_by: str | None,
) -> Backup:
    cluster = await _get_cluster(session, cluster_id)
    backup = await new_backup(
        session,
        settings,
        cluster,
        name=body.backup_name,
        backup_type=body.backup_type,
        retention_days=body.retention_days,
        options=backup_options(body),
        created_by=created_by,
    )
    audit.note(
        resource="backup",
        resource_id=backup.id,
        cluster_id=cluster_id,
        new_value={
            "backup_name": backup.backup_name,
            "backup_type": backup.backup_type,
            "retention_days": backup.retention_days,
            **backup.options,
        },
    )
    return backup


async def list_backups(
    session: AsyncSession, cluster_id: str, status: str | None, offset: int, limit: int
) -> tuple[list[Backup], int]:
    query = select(Backup).where(Backup.cluster_id == cluster_id)
    if status:
        query = query.where(Backup.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Backup.created_at.desc(), Backup.id).offset(offset).limit(limit)
    )
    return list(rows), int(total or 0)


async def get_backup(session: AsyncSession, cluster_id: str, backup_id: str) -> Backup:
    backup = await session.get(Backup, backup_id)
    if backup is None or backup.cluster_id != cluster_id:
        raise NotFound(f"backup {backup_id} of cluster {cluster_id} not found")
    return backup


def expiry(backup: Backup) -> None:
    if backup.retention_days and backup.completed_at is not None:
        backup.expires_at = backup.completed_at + timedelta(days=backup.retention_days)


async def active_restores(session: AsyncSession, backup_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(Restore.id).where(Restore.backup_id == backup_id, Restore.status.in_(ACTIVE))
        )
    )


async def enqueue_purge(session: AsyncSession, backup_id: str, *, mark_deleted: bool) -> None:
    await jobs.enqueue(
        session,
        PURGE_KIND,
        {"backup_id": backup_id, "mark_deleted": mark_deleted},
        dedup_key=f"backup-purge:{backup_id}",
    )


async def delete_backup(session: AsyncSession, cluster_id: str, backup_id: str) -> Backup:
    """Mark the backup deleted now; its archive is removed by a purge job right after
    (object storage is not talked to inside a database transaction)."""
    backup = await get_backup(session, cluster_id, backup_id)
    if backup.status == DELETED:
        return backup
    if backup.status in ACTIVE:
        raise Conflict(f"backup {backup_id} is {backup.status}: wait for it to finish")
    restores = await active_restores(session, backup_id)
    if restores:
        raise Conflict(f"backup {backup_id} is being restored (restore {restores[0]})")
    audit.note(
        resource="backup",
        resource_id=backup.id,
        cluster_id=cluster_id,
        old_value={
            "backup_name": backup.backup_name,
            "status": backup.status,
            "storage_location": backup.storage_location,
        },
    )
    backup.status = DELETED
    backup.deleted_at = utcnow()
    backup.current_step = "Deleted"
    await enqueue_purge(session, backup.id, mark_deleted=True)
    await session.flush()
    return backup


async def create_restore(
    session: AsyncSession,
    settings: Settings,
    cluster_id: str,
    backup_id: str,
    body: RestoreCreate,
    created_by: str | None,
) -> Restore:
    backup = await get_backup(session, cluster_id, backup_id)
    if backup.status != COMPLETED:
        raise Invalid(
            f"backup {backup_id} is {backup.status}: only a completed backup can be restored"
        )
    target_id = body.target_cluster_id or cluster_id
    target = await session.get(Cluster, target_id)
    if target is None:
        raise Invalid(
            f"target_cluster_id: cluster {target_id} not found"
            if body.target_cluster_id
            else "target_cluster_id: the backup's cluster "
            "no longer exists; name the cluster to restore into"
        )
    require_credentials(target)
    if backup.backup_type == "etcd":
        check_etcd_restore(backup, target, body)
    if body.included_namespaces and body.namespace_mapping:
        unknown = set(body.namespace_mapping) - set(body.included_namespaces)
        if unknown:
            raise Invalid(
                f"namespace_mapping: maps namespaces that included_namespaces "
                f"leaves out: {', '.join(sorted(unknown))}"
            )
    options = {
        "namespace_mapping": dict(body.namespace_mapping),
        "included_namespaces": list(body.included_namespaces or []),
        "existing_policy": body.existing_policy,
        "dry_run": body.dry_run,
    }
    restore = Restore(
        backup_id=backup.id,
        source_cluster_id=cluster_id,
        target_cluster_id=target.id,
        restore_name=body.restore_name,
        options=options,
        dry_run=body.dry_run,
        created_by=created_by,
    )
    session.add(restore)
    await session.flush()
    job = await claim_cluster(session, target.id, RESTORE_KIND, {"restore_id": restore.id})
    restore.job_id = job.id
    audit.note(
        resource="restore",
        resource_id=restore.id,
        cluster_id=target.id,
        new_value={
            "restore_name": restore.restore_name,
            "backup_id": backup.id,
            "source_cluster_id": cluster_id,
            "target_cluster_id": target.id,
            **options,
        },
    )
    return restore


def check_etcd_restore(backup: Backup, target: Cluster, body: RestoreCreate) -> None:
    """An etcd snapshot goes back into the members of the cluster it was taken of, whole."""
    if target.id != backup.cluster_id:
        raise Invalid(
            "target_cluster_id: an etcd snapshot is restored into the cluster it was taken "
            "of (its members' names and addresses are in it), not into another cluster"
        )
    if body.namespace_mapping or body.included_namespaces:
        field = "namespace_mapping" if body.namespace_mapping else "included_namespaces"
        raise Invalid(f"{field}: an etcd snapshot is restored whole; it takes no {field}")
    check_etcd_request(target, {})


async def get_restore(
    session: AsyncSession, cluster_id: str, backup_id: str, restore_id: str
) -> Restore:
    restore = await session.get(Restore, restore_id)
    if restore is None or restore.backup_id != backup_id or restore.source_cluster_id != cluster_id:
        raise NotFound(f"restore {restore_id} of backup {backup_id} not found")
    return restore


async def list_restores(
    session: AsyncSession, backup_id: str, offset: int, limit: int
) -> tuple[list[Restore], int]:
    query = select(Restore).where(Restore.backup_id == backup_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Restore.created_at.desc(), Restore.id).offset(offset).limit(limit)
    )
    return list(rows), int(total or 0)


async def cancel(session: AsyncSession, run: Backup | Restore, reason: str) -> None:
    """Ask a pending or running backup or restore to stop. A running one stops at its next
    progress report (a backup leaves no archive; what a restore created stays); one whose
    job had not started is cancelled at once."""
    kind = "backup" if isinstance(run, Backup) else "restore"
    if run.status not in ACTIVE or run.job_id is None:
        raise Invalid(f"{kind} {run.id} is {run.status}: nothing to cancel")
    cluster_id = run.cluster_id if isinstance(run, Backup) else run.target_cluster_id
    audit.note(
        resource=kind,
        resource_id=run.id,
        cluster_id=cluster_id,
        old_value={"status": run.status},
        new_value={"cancel_requested": True},
        details={"reason": reason},
    )
    job = await jobs.request_cancel(session, run.job_id)
    if job.status == "cancelled":
        run.end(CANCELLED, error=reason)
