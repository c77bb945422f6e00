"""Job kinds for the tests, and the probe through which a test sees what they did."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.errors import Invalid, Unavailable
from taichu.jobs import service
from taichu.jobs.models import Job
from taichu.jobs.registry import JobContext, JobLeaseLost, JobRegistry, PermanentJobError


@dataclass
class Probe:
    """Shared between a test and the handlers it runs in the same process."""

    runs: list[tuple[str, str, int, str]] = field(default_factory=list)  # kind, id, try, worker
    run_times: dict[str, list[float]] = field(default_factory=dict)
    interrupted: list[tuple[str, int, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # id, error, status seen
    cancelled: list[tuple[str, str]] = field(default_factory=list)  # id, status seen
    ticks: list[datetime] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def record(self, job: JobContext) -> None:
        self.runs.append((job.kind, job.job_id, job.attempt, job.lease.worker_id))
        self.run_times.setdefault(job.job_id, []).append(time.monotonic())


async def _status_in(session: AsyncSession, job_id: str) -> str:
    # Read through the hook's session: the job's final state is written in this same
    # (uncommitted) transaction, so the hook sees it.
    return (await session.execute(select(Job.status).where(Job.id == job_id))).scalar_one()


def build_registry(probe: Probe) -> JobRegistry:
    registry = JobRegistry()

    @registry.handler("test.echo")
    async def echo(job: JobContext) -> dict[str, Any]:
        probe.record(job)
        await asyncio.sleep(float(job.payload.get("sleep", 0)))
        return {"echo": job.payload, "worker": job.lease.worker_id}

    @registry.handler("test.flaky", max_attempts=3)
    async def flaky(job: JobContext) -> dict[str, Any]:
        probe.record(job)
        if job.attempt <= int(job.payload.get("fail_times", 99)):
            raise RuntimeError(f"boom {job.attempt}")
        return {"attempt": job.attempt}

    @registry.handler("test.permanent")
    async def permanent(job: JobContext) -> None:
        probe.record(job)
        raise PermanentJobError("the payload names no cluster")

    @registry.handler("test.invalid")
    async def invalid(job: JobContext) -> None:
        probe.record(job)
        raise Invalid("pod_cidr '10.0.0.0/33' is not a valid CIDR")

    @registry.handler("test.unavailable", max_attempts=2)
    async def unavailable(job: JobContext) -> None:
        probe.record(job)
        raise Unavailable("cluster c1 is unreachable")

    @registry.handler("test.slow", max_attempts=1, timeout_seconds=0.3)
    async def slow(job: JobContext) -> None:
        probe.record(job)
        await asyncio.sleep(30)

    @registry.handler("test.not_json")
    async def not_json(job: JobContext) -> dict[str, Any]:
        probe.record(job)
        return {"when": object()}

    @registry.handler("test.gate")
    async def gate(job: JobContext) -> dict[str, Any]:
        """Reports 50% then waits for the test to open its gate, checking cancellation."""
        probe.record(job)
        try:
            await job.progress(50, "waiting for the gate")
            event = probe.gate(str(job.payload.get("gate", job.job_id)))
            while not event.is_set():
                if not job.payload.get("deaf"):  # a deaf handler never checks
                    await job.check_cancelled()
                await asyncio.sleep(0.02)
        except (asyncio.CancelledError, JobLeaseLost):
            # Stopped by the runner (shutdown, lost lease) or told by check_cancelled
            # that another worker owns the job now.
            probe.interrupted.append((job.job_id, job.attempt, job.lease.worker_id))
            raise
        return {"worker": job.lease.worker_id}

    @registry.handler("test.bad_hook", max_attempts=1)
    async def bad_hook(job: JobContext) -> None:
        probe.record(job)
        raise RuntimeError("the import went wrong")

    @registry.on_failed("test.bad_hook")
    async def broken_hook(session: AsyncSession, job: JobContext, error: str) -> None:
        raise RuntimeError("the hook is broken too")

    for kind in (
        "test.flaky",
        "test.permanent",
        "test.invalid",
        "test.unavailable",
        "test.slow",
        "test.not_json",
        "test.gate",
    ):

        @registry.on_failed(kind)
        async def on_failed(session: AsyncSession, job: JobContext, error: str) -> None:
            probe.failed.append((job.job_id, error, await _status_in(session, job.job_id)))

    @registry.on_cancelled("test.gate")
    async def on_cancelled(session: AsyncSession, job: JobContext) -> None:
        probe.cancelled.append((job.job_id, await _status_in(session, job.job_id)))

    return registry


def add_periodic(
    registry: JobRegistry, probe: Probe, interval: float, *, broken: bool = False
) -> None:
    """A tick that enqueues one echo job per tick (as a monitor enqueues per entity)."""

    @registry.periodic("test.tick", interval)
    async def tick(session: AsyncSession, now: datetime) -> None:
        probe.ticks.append(now)
        if broken:
            raise RuntimeError("the monitor is broken")
        await service.enqueue(
            session, "test.echo", {"tick": now.isoformat()}, dedup_key=f"tick:{now.isoformat()}"
        )
