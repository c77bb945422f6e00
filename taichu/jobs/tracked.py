"""The one way a job moves a tracked run (a row with `taichu.db.base.TrackedRunMixin`):
`report` while it works, `TrackedRunMixin.end` when it is done, `track_ends` so a job that
fails or is cancelled ends its run in the same transaction as the job's final state.

    from taichu.jobs import tracked

    async def run_expansion(job: JobContext) -> dict[str, Any]:
        await tracked.report(job, Expansion, job.payload["expansion_id"], 10, "Joining nodes")
        ...
        async with transaction(job.sessions) as session:
            record = await session.get(Expansion, job.payload["expansion_id"])
            record.end(COMPLETED)

    def register(registry: JobRegistry) -> None:
        registry.handler(EXPAND_KIND, max_attempts=1)(run_expansion)
        tracked.track_ends(registry, EXPAND_KIND, Expansion, "expansion_id")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from taichu.db.base import CANCELLED, FAILED, TrackedRunMixin
from taichu.db.session import transaction
from taichu.jobs.errors import PermanentJobError
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.registry import JobRegistry

R = TypeVar("R", bound=TrackedRunMixin)
# Domain clean-up once a run ended unsuccessfully (same transaction), e.g. a failed
# import drops its pending cluster, a failed backup purges its unfinished archive.
AfterEnd = Callable[[AsyncSession, Any, str], Awaitable[None]]


async def report(
    job: JobContext,
    model: type[R],
    record_id: str,
    progress: float | None = None,
    step: str | None = None,
    *,
    update: Callable[[R], None] | None = None,
    missing: str | None = None,
    tell_job: bool = True,
) -> None:
    """Write the run's progress and step (and `update`'s changes to its other columns) in
    a short transaction of its own, then report them on the job, which also notices a
    cancellation (`JobCancelled`). A vanished record is skipped, or with `missing` ends
    the job with that error. `tell_job=False` only records (e.g. while being stopped)."""
    async with transaction(job.sessions) as session:
        record = await session.get(model, record_id)
        if record is None:
            if missing is not None:
                raise PermanentJobError(missing)
        else:
            record.mark_progress(progress, step)
            if update is not None:
                update(record)
    if tell_job:
        await job.progress(progress, step)


async def end_run(
    session: AsyncSession,
    model: type[R],
    record_id: str | None,
    status: str,
    error: str | None = None,
    after_end: AfterEnd | None = None,
) -> R | None:
    """End a run in the caller's transaction; `after_end` runs only if this ended it."""
    record = await session.get(model, record_id) if record_id else None
    if record is None or not record.end(status, error=error):
        return None
    if after_end is not None:
        await after_end(session, record, status)
    return record


def track_ends(
    registry: JobRegistry,
    kind: str,
    model: type[TrackedRunMixin],
    id_key: str,
    *,
    after_end: AfterEnd | None = None,
) -> None:
    """A job of `kind` that fails for good or is cancelled while running ends the run
    `job.payload[id_key]` (failed with the job's error, or cancelled)."""

    async def failed(session: AsyncSession, job: JobContext, error: str) -> None:
        await end_run(session, model, job.payload.get(id_key), FAILED, error, after_end)

    async def cancelled(session: AsyncSession, job: JobContext) -> None:
        await end_run(session, model, job.payload.get(id_key), CANCELLED, None, after_end)

    registry.on_failed(kind)(failed)
    registry.on_cancelled(kind)(cancelled)
