"""How an attempt's end is judged and written: success, retry, failure, cancellation.

Each end is one transaction: the job's compare-and-set plus the kind's hook, so a domain
record and its job are committed together or not at all."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.config import JobSettings
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.jobs import recovery, store
from taichu.jobs.errors import PermanentJobError
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.models import CANCELLED, FAILED, QUEUED, SUCCEEDED, Job
from taichu.jobs.registry import JobRegistry
from taichu.timeutil import utcnow

log = logging.getLogger("taichu.jobs")

MAX_ERROR_LENGTH = 4000
WRITE_TRIES = 3


def describe(exc: BaseException) -> tuple[str, bool]:
    """A readable message (never a traceback) and whether retrying is pointless."""
    if isinstance(exc, TaichuError):
        return exc.message[:MAX_ERROR_LENGTH], 400 <= exc.status < 500
    text = str(exc).strip()
    if isinstance(exc, PermanentJobError):
        return (text or "permanent failure")[:MAX_ERROR_LENGTH], True
    # The type says more than a bare message for library errors (KeyError: 'x').
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return message[:MAX_ERROR_LENGTH], False


def retry_delay(settings: JobSettings, attempt: int) -> float:
    return float(
        min(settings.retry_base_seconds * 2 ** max(attempt - 1, 0), settings.retry_max_seconds)
    )


def not_json(result: Any) -> str | None:
    try:
        json.dumps(result)
    except (TypeError, ValueError) as e:
        return f"the handler returned a result that is not JSON: {e}"
    return None


Write = Callable[[AsyncSession, bool], Awaitable[None]]


class OutcomeWriter:
    def __init__(self, registry: JobRegistry, settings: JobSettings) -> None:
        self.registry = registry
        self.settings = settings

    async def record(self, job: JobContext, write: Write) -> None:
        """Run `write(session, with_hooks)` in its own transaction, retrying transient
        errors. If the kind's hook keeps failing, the job's end is still recorded without
        it (a job must not stay running); if even that fails, the exception propagates
        and the lease, no longer renewed, brings the job back."""
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                async with transaction(job.sessions) as session:
                    await write(session, True)
                return
            except Exception:
                job.logger.exception("recording the job's outcome failed (try %d)", attempt)
                await asyncio.sleep(0.2 * attempt)
        async with transaction(job.sessions) as session:
            await write(session, False)

    async def succeeded(self, job: JobContext, result: dict[str, Any] | None) -> None:
        async def write(session: AsyncSession, _hooks: bool) -> None:
            done = await store.finish(
                session,
                job.lease,
                status=SUCCEEDED,
                result=result,
                progress=100.0,
                error=None,
                finished_at=utcnow(),
                locked_until=None,
            )
            if not done:
                job.logger.warning("lease lost before success could be recorded")

        await self.record(job, write)

    async def cancelled(self, job: JobContext) -> None:
        await self.record(job, lambda session, hooks: self._cancel(session, job, hooks))

    async def _cancel(
        self, session: AsyncSession, job: JobContext, hooks: bool, only_if: Any = None
    ) -> None:
        done = await store.finish(
            session,
            job.lease,
            only_if=only_if,
            status=CANCELLED,
            finished_at=utcnow(),
            locked_until=None,
        )
        if not done:
            job.logger.warning("lease lost before cancellation could be recorded")
            return
        job.logger.info("cancelled")
        hook = self.registry.cancelled_hooks.get(job.kind)
        if hook is not None and hooks:
            await hook(session, job)

    async def attempt_failed(
        self,
        job: JobContext,
        message: str,
        *,
        permanent: bool,
        only_if_expired: bool = False,
    ) -> None:
        """Retry later, or fail for good (and run the hook), or — if cancellation was
        requested meanwhile — end cancelled: a cancelled job is never retried."""

        async def write(session: AsyncSession, hooks: bool) -> None:
            requested = (
                await session.execute(select(Job.cancel_requested).where(Job.id == job.job_id))
            ).scalar_one_or_none()
            only_if = recovery.still_expired() if only_if_expired else None
            if requested:
                await self._cancel(session, job, hooks, only_if)
                return
            if not permanent and job.attempt < job.max_attempts:
                delay = retry_delay(self.settings, job.attempt)
                done = await store.finish(
                    session,
                    job.lease,
                    only_if=only_if,
                    status=QUEUED,
                    run_at=utcnow() + timedelta(seconds=delay),
                    error=message,
                    locked_by=None,
                    locked_until=None,
                )
                if done:
                    job.logger.info(
                        "attempt %d/%d failed, retrying in %.1fs: %s",
                        job.attempt,
                        job.max_attempts,
                        delay,
                        message,
                    )
                return
            hook = self.registry.failed_hooks.get(job.kind)
            error = message
            if hook is not None and not hooks:
                error = f"{message} (its on_failed hook failed too; see the log)"
            done = await store.finish(
                session,
                job.lease,
                only_if=only_if,
                status=FAILED,
                error=error,
                finished_at=utcnow(),
                locked_until=None,
            )
            if not done:
                job.logger.warning("lease lost before the failure could be recorded")
                return
            job.logger.warning("failed after %d attempt(s): %s", job.attempt, message)
            if hook is not None and hooks:
                await hook(session, job, message)

        await self.record(job, write)
