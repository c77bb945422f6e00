"""Periodic ticks coordinated through the database: whichever replica advances a tick's
`next_run_at` (compare-and-set) runs it, in that same transaction, so a tick runs once per
interval however many replicas there are. Missed ticks are not caught up: one run, then
the next interval."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taichu.db.session import transaction
from taichu.jobs.models import PeriodicTick
from taichu.jobs.registry import PeriodicSpec
from taichu.timeutil import utcnow

log = logging.getLogger("taichu.jobs.periodic")


async def _next_run_at(session: AsyncSession, name: str) -> datetime | None:
    return (
        await session.execute(select(PeriodicTick.next_run_at).where(PeriodicTick.name == name))
    ).scalar_one_or_none()


async def _advance(
    session: AsyncSession, name: str, now: datetime, next_at: datetime, worker_id: str
) -> tuple[bool, datetime]:
    """Claim the tick if due. Returns (won, when it is next due)."""
    won = (
        await session.execute(
            update(PeriodicTick)
            # Due, or scheduled more than two intervals out: the interval was shortened
            # (a configuration change) and the old far-off date must not hold it back.
            # (One interval out is what a replica that just ran it sets: not due.)
            .where(
                PeriodicTick.name == name,
                or_(
                    PeriodicTick.next_run_at <= now,
                    PeriodicTick.next_run_at > next_at + (next_at - now),
                ),
            )
            .values(next_run_at=next_at, last_run_at=now, last_runner=worker_id)
            .returning(PeriodicTick.name)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if won is not None:
        return True, next_at
    current = await _next_run_at(session, name)
    if current is not None:
        return False, current
    # First sight of this tick anywhere: insert it as run now. Another replica may insert
    # it at the same moment; the savepoint keeps our transaction usable if it wins.
    try:
        async with session.begin_nested():
            session.add(
                PeriodicTick(name=name, next_run_at=next_at, last_run_at=now, last_runner=worker_id)
            )
    except IntegrityError:
        current = await _next_run_at(session, name)
        return False, current or next_at
    return True, next_at


async def tick(
    sessions: async_sessionmaker[AsyncSession], spec: PeriodicSpec, worker_id: str
) -> datetime:
    """Run `spec` if it is due and no replica ran it; return when it is next due."""
    now = utcnow()
    next_at = now + timedelta(seconds=spec.interval_seconds)
    try:
        async with transaction(sessions) as session:
            won, due = await _advance(session, spec.name, now, next_at, worker_id)
            if won:
                await spec.callback(session, now)
        return due
    except Exception:
        log.exception("periodic task %s failed; skipping this tick", spec.name)
    # Advance anyway so a failing callback is retried next interval, not in a tight loop.
    async with transaction(sessions) as session:
        _, due = await _advance(session, spec.name, now, next_at, worker_id)
    return due
