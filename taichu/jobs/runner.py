"""The job runner: claims due jobs, runs their handlers under a renewed lease, records
outcomes, recovers jobs of dead workers, and drives periodic ticks.

One dispatcher claims up to `concurrency` jobs per round trip (a single transaction per
poll when idle — on SQLite every transaction takes the write lock); each claimed job runs
in its own task; one heartbeat renews every lease this runner holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from taichu.jobs import periodic, recovery, store
from taichu.jobs.execute import Running, execute
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.outcome import OutcomeWriter
from taichu.jobs.registry import JobRegistry, PeriodicSpec
from taichu.timeutil import utcnow

if TYPE_CHECKING:
    from taichu.context import AppContext

log = logging.getLogger("taichu.jobs")

FORCED_STOP_WAIT_SECONDS = 5.0
MAX_SCHEDULER_SLEEP_SECONDS = 30.0
MAX_ERROR_BACKOFF_SECONDS = 10.0
PRUNE_INTERVAL_SECONDS = 600.0
PRUNE_TICK = "jobs.prune"


def default_worker_id() -> str:
    # Unique per process start, readable in `locked_by` / `last_runner`.
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class JobRunner:
    def __init__(
        self,
        app: AppContext,
        registry: JobRegistry,
        worker_id: str | None = None,
        *,
        recover_on_start: bool | None = None,
    ) -> None:
        """`recover_on_start` (default: on SQLite, where one process runs the queue)
        requeues every `running` job at start, as the process that ran it must be gone."""
        self.app = app
        self.registry = registry
        self.settings = app.settings.jobs
        self.worker_id = worker_id or default_worker_id()
        self.is_postgres = app.engine.dialect.name == "postgresql"
        self.recover_on_start = (
            (not self.is_postgres) if recover_on_start is None else recover_on_start
        )
        self.outcomes = OutcomeWriter(registry, self.settings)
        self._periodics = list(registry.periodics.values())
        if PRUNE_TICK in registry.periodics:
            raise ValueError(f"periodic name {PRUNE_TICK!r} is reserved for job retention")
        if self.settings.retention_hours > 0:
            self._periodics.append(PeriodicSpec(PRUNE_TICK, PRUNE_INTERVAL_SECONDS, self._prune))
        self._active: dict[str, Running] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._closed = asyncio.Event()
        self._wake = asyncio.Event()
        self._claiming = False
        self.started = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self.started:
            return
        self.registry.validate()
        if self.recover_on_start:
            requeued = await recovery.recover_abandoned(self.app.sessions)
            if requeued:
                log.warning("requeued %d job(s) left running by a previous process", requeued)
        self.started = True
        self._loops = [
            asyncio.create_task(self._dispatch_loop(), name="jobs-dispatch"),
            asyncio.create_task(self._reaper_loop(), name="jobs-reaper"),
            asyncio.create_task(self._scheduler_loop(), name="jobs-periodic"),
        ]
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="jobs-heartbeat")
        log.info(
            "job runner %s started (concurrency %d, kinds: %s)",
            self.worker_id,
            self.settings.concurrency,
            ", ".join(sorted(self.registry.handlers)),
        )

    async def stop(self) -> None:
        """Stop claiming; let running jobs finish within the grace period; then cancel
        the rest and put them back in the queue without counting the attempt."""
        if not self.started or self._closed.is_set():
            return
        self._stopping.set()
        self._wake.set()
        # The loops notice `_stopping` at their next wait. A claim in flight completes, so
        # no job is left claimed without a task to run it.
        _, pending = await asyncio.wait(self._loops, timeout=FORCED_STOP_WAIT_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

        running = list(self._active.values())
        tasks = [r.task for r in running if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
        leftovers = [r for r in running if r.task is not None and not r.task.done()]
        for r in leftovers:
            r.interrupt("stop")
        if leftovers:
            await asyncio.wait(
                [r.task for r in leftovers if r.task], timeout=FORCED_STOP_WAIT_SECONDS
            )
        for r in leftovers:
            if r.finishing:
                continue  # its outcome is being (or was) written; releasing would undo it
            try:
                if await store.release(self.app.sessions, r.job.lease):
                    r.job.logger.info("released back to the queue (shutdown)")
            except Exception:
                # Not fatal: the lease expires and another worker takes the job.
                r.job.logger.exception("releasing at shutdown failed")

        self._closed.set()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        log.info("job runner %s stopped", self.worker_id)

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll (e.g. after enqueueing)."""
        self._wake.set()

    async def run_until_idle(self, timeout_seconds: float = 30.0) -> None:
        """Wait until this runner runs nothing and nothing it could run is due."""
        deadline = time.monotonic() + timeout_seconds
        kinds = list(self.registry.handlers)
        while True:
            self.wake()
            if not await store.has_claimable(self.app.sessions, kinds) and not (
                self._active or self._claiming
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still pending after {timeout_seconds}s")
            await asyncio.sleep(0.05)

    @property
    def active_job_ids(self) -> list[str]:
        return list(self._active)

    # -- loops ---------------------------------------------------------------------------

    async def _sleep(self, seconds: float, event: asyncio.Event | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((event or self._stopping).wait(), timeout=max(seconds, 0))

    async def _dispatch_loop(self) -> None:
        kinds = self.registry.default_max_attempts
        failures = 0
        while not self._stopping.is_set():
            free = self.settings.concurrency - len(self._active)
            pause = self.settings.poll_interval_seconds
            if free > 0:
                self._claiming = True
                try:
                    for claimed in await store.claim(
                        self.app.sessions,
                        worker_id=self.worker_id,
                        kinds=kinds,
                        limit=free,
                        lease_seconds=self.settings.lease_seconds,
                        exclude=list(self._active),
                        skip_locked=self.is_postgres,
                    ):
                        self._launch(claimed)
                    failures = 0
                except Exception:
                    # Database away: back off, and log the traceback once, not every poll.
                    failures += 1
                    log.warning("claiming jobs failed (%d in a row)", failures,
                                exc_info=failures == 1)  # fmt: skip
                    pause = min(pause * 2**failures, MAX_ERROR_BACKOFF_SECONDS)
                finally:
                    self._claiming = False
            # Woken early when a slot frees up, on wake(), or on stop.
            await self._sleep(pause, self._wake)
            self._wake.clear()

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.lease_seconds / 3
        while not self._closed.is_set():
            await self._sleep(interval, self._closed)
            held = dict(self._active)
            if not held:
                continue
            try:
                lost, cancel_requested = await store.renew(
                    self.app.sessions,
                    self.worker_id,
                    [r.job.lease for r in held.values()],
                    self.settings.lease_seconds,
                )
            except Exception:
                log.warning("renewing job leases failed; will retry", exc_info=True)
                continue
            for job_id in lost:
                r = held[job_id]
                if self._active.get(job_id) is r and not r.finishing:
                    # Another worker owns the job now: stop ours so the work is not done
                    # twice at once. Its outcome would be refused anyway.
                    r.job.logger.warning("lease lost; stopping this run of the job")
                    r.interrupt("lease")
            now = time.monotonic()
            for job_id in cancel_requested:
                r = held[job_id]
                if r.cancel_noticed_at is None:
                    r.cancel_noticed_at = now
                elif now - r.cancel_noticed_at >= self.settings.cancel_grace_seconds:
                    r.job.logger.warning("cancel not noticed by the handler; cancelling it")
                    r.interrupt("cancel")

    async def _reaper_loop(self) -> None:
        # Exhausted jobs of dead workers are rare and not urgent; a few seconds is plenty.
        interval = max(
            self.settings.poll_interval_seconds, min(self.settings.lease_seconds / 2, 10)
        )
        kinds = list(self.registry.handlers)
        while not self._stopping.is_set():
            try:
                for gone in await recovery.expired_exhausted(self.app.sessions, kinds):
                    job = self._context(gone.lease, gone.kind, gone.payload, gone.max_attempts)
                    await self.outcomes.attempt_failed(
                        job,
                        f"the worker running attempt {job.attempt} of {job.max_attempts} "
                        "stopped responding (process died or lost the database)",
                        permanent=True,
                        only_if_expired=True,
                    )
            except Exception:
                log.exception("failing abandoned jobs failed")
            await self._sleep(interval)

    async def _scheduler_loop(self) -> None:
        while not self._stopping.is_set() and self._periodics:
            earliest: datetime | None = None
            for spec in self._periodics:
                try:
                    due = await periodic.tick(self.app.sessions, spec, self.worker_id)
                except Exception:
                    log.exception("periodic task %s could not be scheduled", spec.name)
                    continue
                earliest = due if earliest is None else min(earliest, due)
            pause = MAX_SCHEDULER_SLEEP_SECONDS
            if earliest is not None:
                pause = min(pause, (earliest - utcnow()).total_seconds() + 0.01)
            await self._sleep(max(pause, self.settings.poll_interval_seconds / 5))

    async def _prune(self, session: AsyncSession, now: datetime) -> None:
        deleted = await recovery.prune_finished(session, now, self.settings.retention_hours)
        if deleted:
            log.info("deleted %d finished job(s) past retention", deleted)

    # -- one job ---------------------------------------------------------------------------

    def _context(
        self, lease: store.Lease, kind: str, payload: dict[str, object], max_attempts: int
    ) -> JobContext:
        return JobContext(
            job_id=lease.job_id,
            kind=kind,
            payload=dict(payload),
            attempt=lease.attempt,
            max_attempts=max_attempts,
            app=self.app,
            lease=lease,
            lease_seconds=self.settings.lease_seconds,
        )

    def _launch(self, claimed: store.Claimed) -> None:
        job = self._context(claimed.lease, claimed.kind, claimed.payload, claimed.max_attempts)
        running = Running(job)
        self._active[job.job_id] = running

        def finished(task: asyncio.Task[None]) -> None:
            if self._active.get(job.job_id) is running:
                del self._active[job.job_id]
            self._wake.set()  # a slot is free
            if not task.cancelled() and task.exception() is not None:
                job.logger.error("job task crashed", exc_info=task.exception())

        spec = self.registry.handlers[job.kind]
        running.task = asyncio.create_task(
            execute(running, spec, self.outcomes, claimed.cancel_requested),
            name=f"job-{job.job_id}",
        )
        running.task.add_done_callback(finished)
