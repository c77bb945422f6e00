"""What a job handler gets: its job's identity and payload, the app, and the means to
report progress and notice cancellation."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taichu.jobs import store
from taichu.jobs.errors import JobCancelled

if TYPE_CHECKING:
    from taichu.context import AppContext

log = logging.getLogger("taichu.jobs")


class _JobLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = self.extra or {}
        return f"[{extra.get('kind')} {extra.get('job_id')}] {msg}", kwargs


@dataclass
class JobContext:
    """Handed to a handler (and to its kind's hooks).

    The handler opens its own short transactions with `transaction(job.sessions)`; no
    transaction is open while it runs. `progress()` and `check_cancelled()` raise
    `JobCancelled` once cancellation is requested and `JobLeaseLost` if another worker
    took the job over; both should simply propagate."""

    job_id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    app: AppContext
    lease: store.Lease
    lease_seconds: float
    logger: logging.LoggerAdapter = field(init=False)  # type: ignore[type-arg]

    def __post_init__(self) -> None:
        self.logger = _JobLogger(log, {"job_id": self.job_id, "kind": self.kind})

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.app.sessions

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def progress(self, percent: float | None = None, step: str | None = None) -> None:
        """Record progress (0–100) and/or the current step, then check cancellation."""
        if await store.report_progress(
            self.sessions, self.lease, self.lease_seconds, percent, step
        ):
            raise JobCancelled(f"job {self.job_id} was cancelled")

    async def check_cancelled(self) -> None:
        if await store.cancel_requested(self.sessions, self.lease):
            raise JobCancelled(f"job {self.job_id} was cancelled")
