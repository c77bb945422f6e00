"""The runner's SQL for running jobs: claim, renew, report progress, finish, release.

Every write that concerns a running job is a compare-and-set on (id, locked_by, attempts,
status='running'): a worker whose lease expired and was taken over by another can never
overwrite the new owner's progress or outcome. Times are taken from this process's clock
(replicas need synchronised clocks, as for any lease)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from taichu.db.session import transaction
from taichu.jobs.errors import JobLeaseLost
from taichu.jobs.models import QUEUED, RUNNING, Job
from taichu.timeutil import utcnow

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Lease:
    """Who owns which attempt of a job: the key of every compare-and-set."""

    job_id: str
    worker_id: str
    attempt: int


@dataclass(frozen=True)
class Claimed:
    lease: Lease
    kind: str
    payload: dict[str, Any]
    max_attempts: int
    cancel_requested: bool


def _ts(value: datetime) -> ColumnElement[datetime]:
    # Typed so SQLite stores it in the column's format (used inside SQL functions).
    return literal(value, Job.started_at.type)


def _owned(lease: Lease) -> ColumnElement[bool]:
    return and_(
        Job.id == lease.job_id,
        Job.locked_by == lease.worker_id,
        Job.attempts == lease.attempt,
        Job.status == RUNNING,
    )


def _claimable(now: datetime, kinds: Collection[str]) -> ColumnElement[bool]:
    return and_(
        Job.kind.in_(list(kinds)),
        or_(
            and_(Job.status == QUEUED, Job.run_at <= now),
            # The owner stopped renewing (its process died): anyone may take it over, as
            # long as attempts remain; exhausted ones are failed by `expired_exhausted`.
            and_(
                Job.status == RUNNING,
                Job.locked_until < now,
                Job.attempts < Job.max_attempts,
            ),
        ),
    )


async def claim(
    sessions: Sessions,
    *,
    worker_id: str,
    kinds: Mapping[str, int],
    limit: int,
    lease_seconds: float,
    exclude: Collection[str] = (),
    skip_locked: bool = False,
) -> list[Claimed]:
    """Take up to `limit` due jobs of the given kinds (kind -> default max_attempts).

    On PostgreSQL (`skip_locked`) concurrent claimers pass over each other's rows instead
    of queueing behind them; on SQLite the transaction holds the write lock
    (BEGIN IMMEDIATE) so claimers are serialised. The UPDATE re-checks claimability
    either way and only the rows it returns are ours."""
    if limit <= 0 or not kinds:
        return []
    now = utcnow()
    async with transaction(sessions) as session:
        query = select(Job.id).where(_claimable(now, kinds))
        if exclude:
            query = query.where(Job.id.not_in(list(exclude)))
        query = query.order_by(Job.run_at).limit(limit)
        if skip_locked:
            query = query.with_for_update(skip_locked=True)
        ids = list((await session.execute(query)).scalars())
        if not ids:
            return []
        rows = (
            await session.execute(
                update(Job)
                .where(Job.id.in_(ids), _claimable(now, kinds))
                .values(
                    status=RUNNING,
                    locked_by=worker_id,
                    locked_until=now + timedelta(seconds=lease_seconds),
                    attempts=Job.attempts + 1,
                    started_at=func.coalesce(Job.started_at, _ts(now)),
                    # Progress belongs to the current attempt; a retry starts over.
                    progress=0.0,
                    step=None,
                )
                .returning(
                    Job.id,
                    Job.kind,
                    Job.payload,
                    Job.attempts,
                    Job.max_attempts,
                    Job.cancel_requested,
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
        claimed = []
        for row in rows:
            max_attempts = row.max_attempts
            if max_attempts <= 0:
                # Enqueued without an explicit limit: fix the kind's default on the row
                # so every replica (and the crash reaper) sees the same number.
                max_attempts = kinds[row.kind]
                await session.execute(
                    update(Job)
                    .where(Job.id == row.id)
                    .values(max_attempts=max_attempts)
                    .execution_options(synchronize_session=False)
                )
            claimed.append(
                Claimed(
                    lease=Lease(row.id, worker_id, row.attempts),
                    kind=row.kind,
                    payload=dict(row.payload or {}),
                    max_attempts=max_attempts,
                    cancel_requested=row.cancel_requested,
                )
            )
        return claimed


async def renew(
    sessions: Sessions, worker_id: str, leases: Collection[Lease], lease_seconds: float
) -> tuple[set[str], set[str]]:
    """Extend every lease this worker holds in one statement. Returns the ids it lost and
    the ids whose cancellation was requested."""
    if not leases:
        return set(), set()
    expected = {lease.job_id: lease.attempt for lease in leases}
    async with transaction(sessions) as session:
        rows = (
            await session.execute(
                update(Job)
                .where(
                    Job.id.in_(list(expected)),
                    Job.locked_by == worker_id,
                    Job.status == RUNNING,
                )
                .values(locked_until=utcnow() + timedelta(seconds=lease_seconds))
                .returning(Job.id, Job.attempts, Job.cancel_requested)
                .execution_options(synchronize_session=False)
            )
        ).all()
    kept = {row.id: row for row in rows if expected.get(row.id) == row.attempts}
    return set(expected) - set(kept), {jid for jid, row in kept.items() if row.cancel_requested}


async def report_progress(
    sessions: Sessions,
    lease: Lease,
    lease_seconds: float,
    percent: float | None,
    step: str | None,
) -> bool:
    """Write progress/step (None leaves it) and renew the lease; return cancel_requested."""
    values: dict[str, Any] = {"locked_until": utcnow() + timedelta(seconds=lease_seconds)}
    if percent is not None:
        values["progress"] = max(0.0, min(100.0, float(percent)))
    if step is not None:
        values["step"] = step[:255]
    async with transaction(sessions) as session:
        row = (
            await session.execute(
                update(Job)
                .where(_owned(lease))
                .values(**values)
                .returning(Job.cancel_requested)
                .execution_options(synchronize_session=False)
            )
        ).first()
    if row is None:
        raise JobLeaseLost(f"job {lease.job_id} is no longer owned by {lease.worker_id}")
    return bool(row.cancel_requested)


async def cancel_requested(sessions: Sessions, lease: Lease) -> bool:
    async with transaction(sessions) as session:
        row = (await session.execute(select(Job.cancel_requested).where(_owned(lease)))).first()
    if row is None:
        raise JobLeaseLost(f"job {lease.job_id} is no longer owned by {lease.worker_id}")
    return bool(row.cancel_requested)


async def finish(
    session: AsyncSession,
    lease: Lease,
    *,
    only_if: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """Write a running job's new state in the caller's transaction, if still ours."""
    condition = _owned(lease) if only_if is None else and_(_owned(lease), only_if)
    row = (
        await session.execute(
            update(Job)
            .where(condition)
            .values(**values)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    return row is not None


async def release(sessions: Sessions, lease: Lease) -> bool:
    """Give an unfinished job back to the queue without counting the attempt."""
    async with transaction(sessions) as session:
        return await finish(
            session,
            lease,
            status=QUEUED,
            locked_by=None,
            locked_until=None,
            attempts=Job.attempts - 1,
            run_at=utcnow(),
        )


async def has_claimable(sessions: Sessions, kinds: Collection[str]) -> bool:
    if not kinds:
        return False
    async with transaction(sessions) as session:
        row = (
            await session.execute(select(Job.id).where(_claimable(utcnow(), kinds)).limit(1))
        ).first()
    return row is not None
