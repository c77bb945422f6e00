"""Claims are exclusive; a job whose worker vanished is taken over (or failed when it had
no attempt left); a worker that lost its lease cannot overwrite the new owner."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs import recovery, store
from taichu.jobs.models import Job, PeriodicTick
from taichu.jobs.runner import JobRunner
from taichu.timeutil import utcnow
from tests.jobs.helpers import enqueue, load, wait_for
from tests.jobs.plugin import Probe
from tests.support import waiting

Start = Any
KINDS = {"test.echo": 3}


async def test_concurrent_claims_never_share_a_job(ctx: AppContext) -> None:
    ids = {await enqueue(ctx, "test.echo") for _ in range(30)}

    async def claimer(worker: str) -> list[str]:
        got: list[str] = []
        while True:
            batch = await store.claim(
                ctx.sessions,
                worker_id=worker,
                kinds=KINDS,
                limit=3,
                lease_seconds=60,
                skip_locked=ctx.engine.dialect.name == "postgresql",
            )
            if not batch:
                return got
            got.extend(c.lease.job_id for c in batch)

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    job = await load(ctx, claimed[0])
    assert job.status == "running" and job.attempts == 1 and job.max_attempts == 3
    assert job.locked_until is not None and job.locked_until > utcnow() + timedelta(seconds=50)


async def test_two_runners_run_each_job_exactly_once(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner("worker-a")
    await start_runner("worker-b")
    ids = [await enqueue(ctx, "test.echo", {"sleep": 0.05}) for _ in range(40)]
    for job_id in ids:
        assert (await wait_for(ctx, job_id)).status == "succeeded"
    runs = [run[1] for run in probe.runs]
    assert sorted(runs) == sorted(ids)
    assert {run[3] for run in probe.runs} == {"worker-a", "worker-b"}


async def _expire(ctx: AppContext, owner: store.Lease) -> None:
    """Expire the job's lease while `owner` still holds it: a repeated expiry must never
    hit the attempt that took the job over."""
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(Job)
            .where(
                Job.id == owner.job_id,
                Job.locked_by == owner.worker_id,
                Job.attempts == owner.attempt,
            )
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )


@pytest.mark.parametrize("deaf", [False, True], ids=["checking", "deaf"])
async def test_expired_lease_is_taken_over_and_the_old_owner_is_stopped(
    ctx: AppContext, start_runner: Start, probe: Probe, deaf: bool
) -> None:
    """Worker A stops renewing (as if cut off from the database): its lease runs out, B
    takes the job over as attempt 2. When A's heartbeat finds the job gone it stops its
    own run, and nothing A writes can touch B's job."""
    await start_runner("worker-a")
    job_id = await enqueue(ctx, "test.gate", {"gate": "g", "deaf": deaf})
    job = await wait_for(ctx, job_id, {"running"}, check=lambda j: j.progress == 50)
    assert job.locked_by == "worker-a"
    # (On SQLite a starting runner would requeue A's job at once, as A's process is
    # assumed dead; here A lives on, so B starts without that recovery.)
    await start_runner("worker-b", recover_on_start=False)

    # A's heartbeat may renew in between: expire again, but only A's attempt. Expiring
    # unconditionally also expired B's fresh lease when B claimed between two rounds (a
    # slow machine); A, stopped by then, or B took the job again as attempt 3, and so on
    # until the attempts ran out.
    a_lease = store.Lease(job_id, "worker-a", 1)

    async def taken_over() -> bool:
        await _expire(ctx, a_lease)
        await asyncio.sleep(0.1)
        return (await load(ctx, job_id)).locked_by == "worker-b"

    await waiting.wait_for(taken_over, timeout=15, interval=0.05)
    job = await wait_for(ctx, job_id, {"running"}, check=lambda j: j.locked_by == "worker-b")
    assert job.attempts == 2

    # A's run stops: its heartbeat (every lease/3 = 1s) finds the job gone and cancels
    # it, or its own check_cancelled() finds out first.
    await waiting.wait_for(
        lambda: (job_id, 1, "worker-a") in probe.interrupted, timeout=15, interval=0.05
    )

    # A's stale lease can neither report nor finish.
    stale = store.Lease(job_id, "worker-a", 1)
    async with transaction(ctx.sessions) as session:
        assert not await store.finish(session, stale, status="failed", error="stale")
    probe.gate("g").set()
    job = await wait_for(ctx, job_id)
    assert job.status == "succeeded" and job.result == {"worker": "worker-b"}
    assert job.attempts == 2 and job.error is None


async def test_abandoned_job_on_its_last_attempt_fails_with_hook(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    job_id = await enqueue(ctx, "test.gate", max_attempts=1)
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status="running",
                attempts=1,
                locked_by="dead-worker",
                locked_until=utcnow() - timedelta(seconds=1),
            )
        )
    await start_runner()
    job = await wait_for(ctx, job_id)
    assert job.status == "failed" and job.attempts == 1
    assert job.error is not None and "stopped responding" in job.error
    assert probe.failed == [(job_id, job.error, "failed")]
    assert probe.runs == []  # never run again


async def test_job_of_a_dead_worker_runs_again(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    """A process died during attempt 1. With SQLite (one process runs the queue) the next
    runner requeues it at start; on PostgreSQL another replica takes it once the lease
    runs out."""
    job_id = await enqueue(ctx, "test.echo")
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status="running",
                attempts=1,
                max_attempts=3,
                locked_by="dead-worker",
                locked_until=utcnow() + timedelta(seconds=1),
            )
        )
    runner: JobRunner = await start_runner()
    if runner.recover_on_start:
        job = await load(ctx, job_id)
        assert job.status in ("queued", "running", "succeeded")
        assert job.locked_by != "dead-worker"
    job = await wait_for(ctx, job_id, within=10)
    assert job.status == "succeeded" and job.attempts == 2 and job.locked_by == "worker-a"


async def test_finished_jobs_past_retention_are_pruned(
    ctx: AppContext, start_runner: Start
) -> None:
    ids = [await enqueue(ctx, "test.echo") for _ in range(3)]  # old done, new done, queued
    long_ago = utcnow() - timedelta(days=30)
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(Job).where(Job.id == ids[0]).values(status="succeeded", finished_at=long_ago)
        )
        await session.execute(
            update(Job).where(Job.id == ids[1]).values(status="failed", finished_at=utcnow())
        )
        await session.execute(
            update(Job).where(Job.id == ids[2]).values(run_at=utcnow() + timedelta(days=1))
        )
    await start_runner()  # retention (default 7 days) runs as the periodic `jobs.prune`
    left: set[str] = set()

    async def pruned() -> bool:
        nonlocal left
        async with transaction(ctx.sessions) as session:
            left = set((await session.execute(select(Job.id))).scalars())
            tick = await session.get(PeriodicTick, "jobs.prune")
        return ids[0] not in left and tick is not None

    await waiting.wait_for(pruned, timeout=15, interval=0.05)
    assert left == {ids[1], ids[2]}
    async with transaction(ctx.sessions) as session:
        assert await recovery.prune_finished(session, utcnow(), 168) == 0
