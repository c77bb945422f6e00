"""Enqueue, inspect and cancel jobs. Like every service, these only flush: the caller's
transaction commits, so a job is enqueued atomically with the row it acts on."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.errors import NotFound
from taichu.jobs.models import ACTIVE_STATES, ALL_STATES, CANCELLED, QUEUED, RUNNING, Job
from taichu.jobs.registry import MAX_KIND_LENGTH
from taichu.timeutil import utcnow

KIND_DEFAULT = 0
"""Stored `max_attempts` meaning "the kind's default", fixed by the runner at first claim."""


async def _active_with_key(session: AsyncSession, dedup_key: str) -> Job | None:
    result = await session.execute(
        select(Job)
        .where(Job.dedup_key == dedup_key, Job.status.in_(ACTIVE_STATES))
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    dedup_key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a job (committed by the caller). With a `dedup_key` that already has an active
    (queued or running) job, return that job instead of adding one.

    `payload` must be JSON and carry ids, not objects. `max_attempts=None` takes the
    kind's default from its `@registry.handler`."""
    if not kind or len(kind) > MAX_KIND_LENGTH:
        raise ValueError(f"job kind must be 1-{MAX_KIND_LENGTH} characters: {kind!r}")
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    job = Job(
        kind=kind,
        payload=payload,
        status=QUEUED,
        dedup_key=dedup_key,
        attempts=0,
        max_attempts=KIND_DEFAULT if max_attempts is None else max_attempts,
        run_at=run_at or utcnow(),
        progress=0.0,
        cancel_requested=False,
    )
    if dedup_key is None:
        session.add(job)
        await session.flush()
        return job
    existing = await _active_with_key(session, dedup_key)
    if existing is not None:
        return existing
    try:
        # A concurrent transaction may insert the same key between our read and our
        # insert. The savepoint confines the unique violation, so on PostgreSQL the
        # caller's transaction stays usable.
        async with session.begin_nested():
            session.add(job)
    except IntegrityError:
        existing = await _active_with_key(session, dedup_key)
        if existing is None:
            raise
        return existing
    return job


async def get_job(session: AsyncSession, job_id: str) -> Job:
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


async def request_cancel(session: AsyncSession, job_id: str) -> Job:
    """Cancel a job. A queued one (including one waiting for a retry) is `cancelled` at
    once; the caller updates its own record in the same transaction (check
    `job.status == "cancelled"`). A running one gets `cancel_requested`: its handler sees
    it at its next progress/check call and the kind's `on_cancelled` hook finishes the
    record. Finished jobs are returned unchanged."""
    now = utcnow()
    # Compare-and-set, not read-then-write: the job may be claimed concurrently.
    cancelled = (
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == QUEUED)
            .values(
                status=CANCELLED,
                cancel_requested=True,
                finished_at=now,
                locked_by=None,
                locked_until=None,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if cancelled is None:
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == RUNNING)
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
    return await get_job(session, job_id)


async def counts_by_status(
    session: AsyncSession, job_ids: Collection[str] | None = None
) -> dict[str, int]:
    """Jobs per state (of `job_ids` only, when given), every state present (zero included)
    so gauges never go missing."""
    counts = dict.fromkeys(ALL_STATES, 0)
    query = select(Job.status, func.count()).group_by(Job.status)
    if job_ids is not None:
        query = query.where(Job.id.in_(job_ids))
    rows = await session.execute(query)
    for status, count in rows.all():
        counts[status] = int(count)
    return counts
