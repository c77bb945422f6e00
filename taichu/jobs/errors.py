"""Exceptions a job handler raises (or sees) to steer the runner."""

from __future__ import annotations


class PermanentJobError(Exception):
    """The job cannot succeed by trying again: fail it now, without retry.

    A `TaichuError` with a 4xx status is treated the same way (bad input stays bad)."""


class JobCancelled(Exception):
    """Cancellation was requested; raised by `JobContext.progress` / `check_cancelled`.

    Handlers may catch it to clean up, but should re-raise it: the job then ends
    `cancelled` and the kind's `on_cancelled` hook runs."""


class JobLeaseLost(Exception):
    """This worker no longer owns the job (its lease expired and another worker took it,
    or it was released). The handler must stop; its outcome will not be recorded."""
