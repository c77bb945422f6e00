"""Plain async helpers for the job tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs import service
from taichu.jobs.models import Job


async def enqueue(
    ctx: AppContext, kind: str, payload: dict[str, Any] | None = None, **kwargs: Any
) -> str:
    async with transaction(ctx.sessions) as session:
        job = await service.enqueue(session, kind, payload or {}, **kwargs)
        return job.id


async def load(ctx: AppContext, job_id: str) -> Job:
    async with transaction(ctx.sessions) as session:
        return await service.get_job(session, job_id)


async def wait_for(
    ctx: AppContext,
    job_id: str,
    statuses: Iterable[str] = ("succeeded", "failed", "cancelled"),
    within: float = 10.0,
    check: Callable[[Job], bool] | None = None,
) -> Job:
    """Poll until the job is in one of `statuses` (and `check` holds)."""
    wanted = set(statuses)
    deadline = time.monotonic() + within
    while True:
        job = await load(ctx, job_id)
        if job.status in wanted and (check is None or check(job)):
            return job
        assert time.monotonic() < deadline, (
            f"job {job_id} is {job.status} (attempts {job.attempts}, error {job.error!r}, "
            f"locked_by {job.locked_by}), wanted {sorted(wanted)}"
        )
        await asyncio.sleep(0.03)
