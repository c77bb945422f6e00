"""One attempt of one job: run the handler under its timeout and turn how it ended into
the job's next state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from taichu.jobs.errors import JobCancelled, JobLeaseLost
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.outcome import OutcomeWriter, describe, not_json
from taichu.jobs.registry import HandlerSpec

Interruption = Literal["stop", "lease", "cancel"]


@dataclass
class Running:
    """A job this runner is running, as its loops see it."""

    job: JobContext
    task: asyncio.Task[None] | None = None
    # Set once the handler has returned and its outcome is being written: from then on
    # the task must not be cancelled (that would lose a finished result).
    finishing: bool = False
    # Why the runner cancelled the task, if it did.
    interrupted: Interruption | None = None
    cancel_noticed_at: float | None = None

    def interrupt(self, reason: Interruption) -> None:
        if self.task is not None and not self.finishing and not self.task.done():
            self.interrupted = reason
            self.task.cancel()


async def execute(
    running: Running, spec: HandlerSpec, outcomes: OutcomeWriter, cancel_requested: bool
) -> None:
    job = running.job
    if cancel_requested:  # cancelled while its previous owner ran it; do not start over
        running.finishing = True
        await outcomes.cancelled(job)
        return
    # Debug: periodic per-entity jobs would flood an info log.
    job.logger.debug("attempt %d/%d started", job.attempt, job.max_attempts)
    deadline = asyncio.timeout(spec.timeout_seconds)
    try:
        async with deadline:
            result = await spec.fn(job)
    except JobCancelled:
        running.finishing = True
        await outcomes.cancelled(job)
        return
    except JobLeaseLost:
        job.logger.warning("lease lost; this run's outcome is discarded")
        return
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or not task.cancelling():
            message, permanent = "the handler was cancelled from within", False
        elif running.interrupted == "cancel":
            # The handler ignored a cancel request past the grace period.
            task.uncancel()
            running.finishing = True
            await outcomes.cancelled(job)
            return
        else:
            raise  # stop() releases the job; a lost lease has nothing to write
    except Exception as exc:
        if deadline.expired():
            message, permanent = f"timed out after {spec.timeout_seconds:g}s", False
        else:
            message, permanent = describe(exc)
            if permanent:
                job.logger.warning("attempt %d failed: %s", job.attempt, message)
            else:
                job.logger.exception("attempt %d raised", job.attempt)
    else:
        running.finishing = True
        problem = not_json(result)
        if problem is None:
            await outcomes.succeeded(job, result)
            job.logger.debug("succeeded")
            return
        message, permanent = problem, True
    running.finishing = True
    await outcomes.attempt_failed(job, message, permanent=permanent)
