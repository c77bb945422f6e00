"""Recovery and housekeeping: jobs of processes that died, and finished jobs past their
retention."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from taichu.db.session import transaction
from taichu.jobs.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from taichu.jobs.store import Lease, Sessions
from taichu.timeutil import utcnow

PRUNE_BATCH = 5_000


async def recover_abandoned(sessions: Sessions) -> int:
    """Single-process mode (SQLite): every `running` job belonged to a process that is
    gone, so requeue it now instead of waiting for its lease to expire. The interrupted
    attempt counts; jobs with no attempt left get their lease expired so the reaper fails
    them (with their kind's hook)."""
    now = utcnow()
    async with transaction(sessions) as session:
        requeued = (
            await session.execute(
                update(Job)
                .where(Job.status == RUNNING, Job.attempts < Job.max_attempts)
                .values(status=QUEUED, locked_by=None, locked_until=None, run_at=now)
                .returning(Job.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        await session.execute(
            update(Job)
            .where(Job.status == RUNNING)
            .values(locked_until=now - timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )
    return len(requeued)


@dataclass(frozen=True)
class Abandoned:
    lease: Lease
    kind: str
    payload: dict[str, Any]
    max_attempts: int


async def expired_exhausted(
    sessions: Sessions, kinds: Collection[str], limit: int = 50
) -> list[Abandoned]:
    """Running jobs whose owner vanished during their last allowed attempt."""
    if not kinds:
        return []
    async with transaction(sessions) as session:
        rows = (
            await session.execute(
                select(Job.id, Job.locked_by, Job.attempts, Job.kind, Job.payload, Job.max_attempts)
                .where(
                    Job.kind.in_(list(kinds)),
                    Job.status == RUNNING,
                    Job.locked_until < utcnow(),
                    Job.attempts >= Job.max_attempts,
                )
                .limit(limit)
            )
        ).all()
    return [
        Abandoned(
            lease=Lease(row.id, row.locked_by or "", row.attempts),
            kind=row.kind,
            payload=dict(row.payload or {}),
            max_attempts=row.max_attempts,
        )
        for row in rows
    ]


def still_expired() -> ColumnElement[bool]:
    """Extra condition for the reaper's CAS: the owner has not renewed in the meantime."""
    return Job.locked_until < utcnow()


async def prune_finished(session: AsyncSession, now: datetime, retention_hours: float) -> int:
    """Delete finished jobs older than the retention (a bounded batch per call, so one
    tick never holds SQLite's write lock for long)."""
    cutoff = now - timedelta(hours=retention_hours)
    old = (
        select(Job.id)
        .where(Job.status.in_((SUCCEEDED, FAILED, CANCELLED)), Job.finished_at < cutoff)
        .limit(PRUNE_BATCH)
        .scalar_subquery()
    )
    result = await session.execute(
        delete(Job).where(Job.id.in_(old)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
