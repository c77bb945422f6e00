"""The job body of an etcd backup (`backup.run` of a `backup_type: etcd` record): the
snapshot (taichu.backups.etcd_snapshot) written as an archive to the backup's storage,
in short transactions around the machine and storage work, as `run_backup` does."""

from __future__ import annotations

from typing import Any

from taichu import __version__
from taichu.backups import etcd_snapshot as snap
from taichu.backups.models import COMPLETED, Backup, Restore
from taichu.backups.service import expiry
from taichu.backups.writer import ArchiveWriter
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.jobs import tracked
from taichu.jobs.registry import JobContext, PermanentJobError
from taichu.provision import members
from taichu.provision.plan import StepFailed
from taichu.timeutil import rfc3339, utcnow


async def is_etcd(job: JobContext, backup_id: str | None, restore_id: str | None = None) -> bool:
    """Is this backup (or the backup of this restore) an etcd snapshot?"""
    async with job.app.read_sessions() as session:
        if restore_id is not None:
            restore = await session.get(Restore, restore_id)
            backup_id = restore.backup_id if restore is not None else None
        backup = await session.get(Backup, backup_id) if backup_id else None
        return backup is not None and backup.backup_type == "etcd"


async def run_etcd_backup(job: JobContext) -> dict[str, Any]:
    from taichu.backups.execution import _quietly, archive_kek, begin_backup

    backup_id = job.payload["backup_id"]
    settings = job.app.settings
    async with transaction(job.sessions) as session:
        started = await begin_backup(session, settings, backup_id, snap.TAKING)
        if isinstance(started, dict):
            return started
        backup, cluster, storage, key = started
        if not members.is_created(cluster):  # the transaction's rollback undoes the claim
            raise PermanentJobError(snap.ETCD_UNAVAILABLE)
        about = {"id": cluster.id, "name": cluster.name, "server": cluster.api_server_url}
        version = cluster.version
        name, created, options = backup.backup_name, backup.created_at, dict(backup.options)
    await job.progress(0, snap.TAKING)
    spool = snap.snapshot_path(settings, f"etcd-backup-{backup_id}.db")
    step = snap.TAKING
    run = None
    try:
        run = await members.open_run(job, about["id"])
        snapshot = await snap.take_snapshot(
            run,
            spool,
            max_bytes=settings.backups.etcd_snapshot_max_mib << 20,
            seconds=settings.backups.etcd_snapshot_timeout_seconds,
        )
        taken_at = utcnow()
        step = snap.STORING
        await tracked.report(job, Backup, backup_id, 50.0, step)
        upload = await storage.upload(key)
        try:
            writer = ArchiveWriter(
                upload,
                backup_id=backup_id,
                cluster_id=about["id"],
                created_at=rfc3339(created) or "",
                kek=archive_kek(settings),
                chunk_size=settings.backups.chunk_kib << 10,
            )
            await snap.write_snapshot(writer, snapshot)
            size, sha256 = await writer.finish(
                {
                    "format": 1,
                    "taichu_version": __version__,
                    "backup_id": backup_id,
                    "backup_name": name,
                    "backup_type": "etcd",
                    "cluster": {**about, "version": version},
                    "snapshot_timestamp": rfc3339(taken_at),
                    "completed_at": rfc3339(utcnow()),
                    "options": options,
                    "etcd": snapshot.manifest(),
                    "counts": {snap.SNAPSHOT_RESOURCE: 1},
                    "total_items": 1,
                    "resources": [],
                    "skipped_resources": [],
                    "warnings": [],
                }
            )
            await upload.commit()
        except BaseException:
            await _quietly(job, "removing the unfinished archive", upload.abort())
            raise
    except (TaichuError, StepFailed) as e:
        message = e.message
        if isinstance(e, StepFailed) and e.node is not None:
            message = f"{e.node.label}: {message}"
        raise PermanentJobError(
            f"etcd backup failed while {step[0].lower() + step[1:]}: {message} "
            "(no archive was kept)"
        ) from e
    finally:
        spool.unlink(missing_ok=True)
        await storage.close()
        if run is not None:
            await members.flush_and_close(run)
    async with transaction(job.sessions) as session:
        backup = await session.get(Backup, backup_id)
        if backup is None:
            return {"size": size}
        backup.end(COMPLETED)
        backup.snapshot_timestamp = taken_at
        backup.storage_size_bytes, backup.archive_sha256 = size, sha256
        backup.kubernetes_version = version
        backup.items_total = backup.items_done = 1
        backup.resource_counts = {
            snap.SNAPSHOT_RESOURCE: 1,
            "etcd_keys": snapshot.status.get("totalKey"),
            "etcd_revision": snapshot.status.get("revision"),
        }
        expiry(backup)
    return {"snapshot_bytes": snapshot.size, "size": size, "member": snapshot.member}
