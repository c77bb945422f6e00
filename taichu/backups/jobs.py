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
from taichu.jobs import tracked
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.timeutil import utcnow

SCHEDULE_TICK = "backup-schedules"
RETENTION_TICK = "backup-retention"
RETENTION_BATCH = 200


async def _drop_unfinished_archive(session: AsyncSession, backup: Backup, _: str) -> None:
    expiry(backup)  # a failed backup's record goes with its retention too
    backup.storage_size_bytes = 0
    # Nothing of it is kept: the location would point at nothing.
    backup.storage_location = ""
    await enqueue_purge(session, backup.id, mark_deleted=False)


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
    tracked.track_ends(
        registry, BACKUP_KIND, Backup, "backup_id", after_end=_drop_unfinished_archive
    )
    registry.handler(RESTORE_KIND, max_attempts=3)(run_restore)
    tracked.track_ends(registry, RESTORE_KIND, Restore, "restore_id")
    registry.handler(PURGE_KIND, max_attempts=5)(purge)

    async def fire(session: AsyncSession, now: datetime) -> None:
        await schedules.fire_due(session, settings, now)

    registry.periodic(SCHEDULE_TICK, settings.backups.schedule_interval_seconds, fire)
    registry.periodic(RETENTION_TICK, settings.backups.retention_interval_seconds, expire_backups)
