"""Job kinds and periodic work of backups: `register(registry, settings)` adds them.

- `backup.run`: one backup (one attempt: a backup is a point in time; the operator or the
  schedule takes another). Its failure hook marks the record failed and purges any
  unfinished archive a dead process may have left.
- `restore.run`: one restore (three attempts: a retry resumes from the parts done).
- `backup.purge`: removes an archive (deleted, expired, or failed backups' remains).
- periodic `backup-schedules`: fires due schedules; `backup-retention`: expires backups.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.backups import schedules
from taichu.backups.execution import run_backup, run_restore, storage_of
from taichu.backups.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    DELETED,
    FAILED,
    Backup,
    Restore,
)
from taichu.backups.service import (
    BACKUP_KIND,
    PURGE_KIND,
    RESTORE_KIND,
    active_restores,
    enqueue_purge,
    expiry,
)
from taichu.config import Settings
from taichu.db.session import transaction
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.timeutil import utcnow

SCHEDULE_TICK = "backup-schedules"
RETENTION_TICK = "backup-retention"
RETENTION_BATCH = 200


async def _end_backup(session: AsyncSession, job: JobContext, status: str, message: str) -> None:
    backup = await session.get(Backup, job.payload.get("backup_id"))
    if backup is None or backup.status not in ACTIVE:
        return
    backup.status, backup.error_message = status, message
    backup.current_step = "Failed" if status == FAILED else "Cancelled"
    backup.completed_at = utcnow()
    expiry(backup)  # a failed backup's record goes with its retention too
    backup.storage_size_bytes = 0
    # Nothing of it is kept: the location would point at nothing.
    backup.storage_location = ""
    await enqueue_purge(session, backup.id, mark_deleted=False)


async def backup_failed(session: AsyncSession, job: JobContext, error: str) -> None:
    await _end_backup(session, job, FAILED, error)


async def backup_cancelled(session: AsyncSession, job: JobContext) -> None:
    await _end_backup(session, job, CANCELLED, "cancelled")


async def _end_restore(session: AsyncSession, job: JobContext, status: str, message: str) -> None:
    restore = await session.get(Restore, job.payload.get("restore_id"))
    if restore is None or restore.status not in ACTIVE:
        return
    restore.status, restore.error_message = status, message
    restore.current_step = "Failed" if status == FAILED else "Cancelled"
    restore.completed_at = utcnow()


async def restore_failed(session: AsyncSession, job: JobContext, error: str) -> None:
    await _end_restore(session, job, FAILED, error)


async def restore_cancelled(session: AsyncSession, job: JobContext) -> None:
    await _end_restore(session, job, CANCELLED, "cancelled")


async def purge(job: JobContext) -> dict[str, Any]:
    """Remove a backup's archive and any unfinished remains; idempotent."""
    backup_id = job.payload["backup_id"]
    async with transaction(job.sessions) as session:
        backup = await session.get(Backup, backup_id)
        if backup is None:
            return {"skipped": "no such backup"}
        if backup.status in ACTIVE:
            return {"skipped": "the backup is running"}  # its own job cleans up
        session.expunge(backup)
    if backup.storage_key:
        storage = storage_of(job.app.settings, backup)
        try:
            await storage.delete(backup.storage_key)
        finally:
            await storage.close()
    if job.payload.get("mark_deleted"):
        async with transaction(job.sessions) as session:
            record = await session.get(Backup, backup_id)
            if record is not None and record.status != DELETED:
                record.status, record.deleted_at = DELETED, utcnow()
    return {"removed": backup.storage_key}


async def expire_backups(session: AsyncSession, now: datetime) -> None:
    """Backups past their retention are marked deleted and their archives purged (one job
    each). A backup being restored waits for the next tick."""
    expired = list(
        await session.scalars(
            select(Backup)
            .where(Backup.status.in_((COMPLETED, FAILED, CANCELLED)), Backup.expires_at <= now)
            .limit(RETENTION_BATCH)
        )
    )
    for backup in expired:
        if await active_restores(session, backup.id):
            continue
        backup.status, backup.deleted_at = DELETED, now
        backup.current_step = f"Expired after {backup.retention_days} days"
        await enqueue_purge(session, backup.id, mark_deleted=True)


def register(registry: JobRegistry, settings: Settings) -> None:
    registry.handler(BACKUP_KIND, max_attempts=1)(run_backup)
    registry.on_failed(BACKUP_KIND)(backup_failed)
    registry.on_cancelled(BACKUP_KIND)(backup_cancelled)
    registry.handler(RESTORE_KIND, max_attempts=3)(run_restore)
    registry.on_failed(RESTORE_KIND)(restore_failed)
    registry.on_cancelled(RESTORE_KIND)(restore_cancelled)
    registry.handler(PURGE_KIND, max_attempts=5)(purge)

    async def fire(session: AsyncSession, now: datetime) -> None:
        await schedules.fire_due(session, settings, now)

    registry.periodic(SCHEDULE_TICK, settings.backups.schedule_interval_seconds, fire)
    registry.periodic(RETENTION_TICK, settings.backups.retention_interval_seconds, expire_backups)
