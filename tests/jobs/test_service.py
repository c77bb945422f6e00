"""enqueue / dedup / cancel / counts, inside callers' transactions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import NotFound
from taichu.jobs import service
from taichu.jobs.models import Job
from taichu.timeutil import utcnow
from tests.jobs.helpers import enqueue, load


async def test_enqueue_flushes_in_the_callers_transaction(ctx: AppContext) -> None:
    async with ctx.sessions() as session:
        job = await service.enqueue(session, "test.echo", {"cluster_id": "c1"})
        assert job.id and job.status == "queued" and job.attempts == 0
        # Flushed (visible in this transaction) but not committed: rolled back with it.
        assert (await session.execute(select(Job.id))).scalars().all() == [job.id]
        await session.rollback()
    async with transaction(ctx.sessions) as session:
        assert (await session.execute(select(Job.id))).first() is None


async def test_enqueue_defaults_and_explicit_attempts(ctx: AppContext) -> None:
    later = utcnow() + timedelta(hours=1)
    default_id = await enqueue(ctx, "test.echo")
    explicit_id = await enqueue(ctx, "test.echo", max_attempts=7, run_at=later)
    default, explicit = await load(ctx, default_id), await load(ctx, explicit_id)
    assert default.max_attempts == service.KIND_DEFAULT  # the kind's default, fixed at claim
    assert explicit.max_attempts == 7
    assert abs((explicit.run_at - later).total_seconds()) < 0.001
    with pytest.raises(ValueError):
        await enqueue(ctx, "test.echo", max_attempts=0)


async def test_dedup_returns_the_active_job(ctx: AppContext) -> None:
    first = await enqueue(ctx, "test.echo", {"n": 1}, dedup_key="cluster-health:c1")
    again = await enqueue(ctx, "test.echo", {"n": 2}, dedup_key="cluster-health:c1")
    other = await enqueue(ctx, "test.echo", {"n": 3}, dedup_key="cluster-health:c2")
    assert again == first and other != first
    assert (await load(ctx, first)).payload == {"n": 1}

    # Running is still active; once finished the key is free again.
    async with transaction(ctx.sessions) as session:
        await session.execute(update(Job).where(Job.id == first).values(status="running"))
    assert await enqueue(ctx, "test.echo", {}, dedup_key="cluster-health:c1") == first
    async with transaction(ctx.sessions) as session:
        await session.execute(update(Job).where(Job.id == first).values(status="succeeded"))
    fresh = await enqueue(ctx, "test.echo", {}, dedup_key="cluster-health:c1")
    assert fresh != first


async def test_dedup_race_keeps_the_losers_transaction_usable(ctx: AppContext) -> None:
    """Two transactions enqueue the same key at once. The second waits for the first
    (PostgreSQL: on the unique index; SQLite: on the write lock), then gets its job —
    and can still go on writing and commit."""
    async with ctx.sessions() as first_session:
        first = await service.enqueue(first_session, "test.echo", {}, dedup_key="k")

        async def second() -> tuple[str, str]:
            async with transaction(ctx.sessions) as session:
                job = await service.enqueue(session, "test.echo", {}, dedup_key="k")
                # The transaction must not be poisoned by the unique violation.
                other = await service.enqueue(session, "test.echo", {"after": True})
                return job.id, other.id

        task = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not task.done()  # blocked behind the first transaction
        await first_session.commit()
    got, other = await asyncio.wait_for(task, 10)
    assert got == first.id
    assert (await load(ctx, other)).payload == {"after": True}


async def test_cancel_queued_at_once_and_running_by_request(ctx: AppContext) -> None:
    queued = await enqueue(ctx, "test.echo", run_at=utcnow() + timedelta(minutes=5))
    running = await enqueue(ctx, "test.echo")
    done = await enqueue(ctx, "test.echo")
    async with transaction(ctx.sessions) as session:
        await session.execute(update(Job).where(Job.id == running).values(status="running"))
        await session.execute(update(Job).where(Job.id == done).values(status="succeeded"))
    async with transaction(ctx.sessions) as session:
        cancelled = await service.request_cancel(session, queued)
        assert cancelled.status == "cancelled" and cancelled.finished_at is not None
        requested = await service.request_cancel(session, running)
        assert requested.status == "running" and requested.cancel_requested
        unchanged = await service.request_cancel(session, done)
        assert unchanged.status == "succeeded" and not unchanged.cancel_requested
        with pytest.raises(NotFound):
            await service.request_cancel(session, "00000000-0000-4000-8000-000000000000")
    assert (await load(ctx, queued)).status == "cancelled"
    # A cancelled job frees its dedup key like any finished one.
    async with transaction(ctx.sessions) as session:
        await session.execute(update(Job).where(Job.id == queued).values(dedup_key="x"))
    assert await enqueue(ctx, "test.echo", dedup_key="x") != queued


async def test_counts_by_status_lists_every_state(ctx: AppContext) -> None:
    async with transaction(ctx.sessions) as session:
        assert await service.counts_by_status(session) == {
            "queued": 0,
            "running": 0,
            "succeeded": 0,
            "failed": 0,
            "cancelled": 0,
        }
    for _ in range(3):
        await enqueue(ctx, "test.echo")
    cancel_me = await enqueue(ctx, "test.echo")
    async with transaction(ctx.sessions) as session:
        await service.request_cancel(session, cancel_me)
    async with transaction(ctx.sessions) as session:
        counts = await service.counts_by_status(session)
    assert counts["queued"] == 3 and counts["cancelled"] == 1 and counts["failed"] == 0
