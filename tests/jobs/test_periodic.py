"""Periodic ticks run once per interval however many runners share the database."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from sqlalchemy import func, select

from taichu.config import Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs.models import Job, PeriodicTick
from taichu.jobs.runner import JobRunner
from tests.jobs.plugin import Probe, add_periodic, build_registry
from tests.support import waiting

Start = Any
INTERVAL = 0.5


async def test_tick_runs_once_per_interval_across_runners(
    ctx: AppContext, start_runner: Start, probe: Probe, settings: Settings
) -> None:
    registry = build_registry(probe)
    add_periodic(registry, probe, INTERVAL)
    # Two runners as two replicas: each with its own engine and connection pool.
    other = AppContext.create(settings)
    runners: list[JobRunner] = []
    started = time.monotonic()
    try:
        runners = list(
            await asyncio.gather(
                start_runner("replica-a", jobs_registry=registry),
                start_runner("replica-b", app=other, jobs_registry=registry),
            )
        )
        await waiting.wait_for(lambda: len(probe.ticks), lambda n: n >= 4, 15, 0.05)
        ticks = list(probe.ticks)
        # Due every INTERVAL from the start: however slow the machine, never more ticks
        # than intervals elapsed (plus the first, and one in flight).
        assert len(ticks) <= (time.monotonic() - started) / INTERVAL + 2, ticks
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
        assert min(gaps) >= INTERVAL - 0.01, gaps  # never twice in one interval
        async with transaction(ctx.sessions) as session:
            row = await session.get(PeriodicTick, "test.tick")
            assert row is not None and row.last_runner in ("replica-a", "replica-b")
            # Each callback's enqueue committed with its tick.
            jobs = (await session.execute(select(func.count()).select_from(Job))).scalar_one()
        assert jobs >= len(ticks) - 1
    finally:
        for runner in runners:
            await runner.stop()
        await other.close()


async def test_failing_tick_is_skipped_not_retried_in_a_loop(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    registry = build_registry(probe)
    add_periodic(registry, probe, INTERVAL, broken=True)
    started = time.monotonic()
    await start_runner(jobs_registry=registry)
    # Skipped, so run again the next interval: not retried at once, in a loop.
    await waiting.wait_for(lambda: len(probe.ticks), lambda n: n >= 2, 15, 0.05)
    ticks = list(probe.ticks)
    assert len(ticks) <= (time.monotonic() - started) / INTERVAL + 2, ticks
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
    assert min(gaps) >= INTERVAL - 0.01, gaps
    async with transaction(ctx.sessions) as session:
        assert (await session.execute(select(func.count()).select_from(Job))).scalar_one() == 0
        row = await session.get(PeriodicTick, "test.tick")
        assert row is not None and row.last_runner == "worker-a"
