"""What job kinds exist, how they run, and what periodic work enqueues them.

Each domain registers its kinds in its `jobs.py`; the app composes one registry and hands
it to the runner. Handlers must be idempotent: delivery is at least once (a worker that
dies after finishing the work but before recording it leaves the job to run again)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from taichu.config import Settings
from taichu.jobs.errors import JobCancelled, JobLeaseLost, PermanentJobError
from taichu.jobs.jobcontext import JobContext

__all__ = [
    "JobCancelled",
    "JobContext",
    "JobLeaseLost",
    "JobRegistry",
    "PermanentJobError",
    "default_registry",
]

Handler = Callable[[JobContext], Awaitable[dict[str, Any] | None]]
# Hooks run in the same transaction as the job's final state, so a domain record and its
# job can never disagree (one committed as failed, the other left in_progress).
FailedHook = Callable[[AsyncSession, JobContext, str], Awaitable[None]]
CancelledHook = Callable[[AsyncSession, JobContext], Awaitable[None]]
PeriodicCallback = Callable[[AsyncSession, datetime], Awaitable[None]]

MAX_KIND_LENGTH = 64
MAX_PERIODIC_NAME_LENGTH = 100


@dataclass(frozen=True)
class HandlerSpec:
    kind: str
    fn: Handler
    max_attempts: int
    timeout_seconds: float | None


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    interval_seconds: float
    callback: PeriodicCallback


class JobRegistry:
    def __init__(self) -> None:
        self.handlers: dict[str, HandlerSpec] = {}
        self.failed_hooks: dict[str, FailedHook] = {}
        self.cancelled_hooks: dict[str, CancelledHook] = {}
        self.periodics: dict[str, PeriodicSpec] = {}

    def handler(
        self, kind: str, *, max_attempts: int = 3, timeout_seconds: float | None = None
    ) -> Callable[[Handler], Handler]:
        """Register `async def handler(job: JobContext) -> dict | None` for `kind`.

        `max_attempts` applies to jobs enqueued without their own; `timeout_seconds`
        bounds one attempt (exceeding it fails the attempt like any other error)."""
        if not kind or len(kind) > MAX_KIND_LENGTH:
            raise ValueError(f"job kind must be 1-{MAX_KIND_LENGTH} characters: {kind!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts of {kind!r} must be at least 1")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds of {kind!r} must be positive")

        def register(fn: Handler) -> Handler:
            if kind in self.handlers:
                raise ValueError(f"job kind {kind!r} is already registered")
            self.handlers[kind] = HandlerSpec(kind, fn, max_attempts, timeout_seconds)
            return fn

        return register

    def on_failed(self, kind: str) -> Callable[[FailedHook], FailedHook]:
        """Register `async def hook(session, job, error_message)`: runs when a job of
        `kind` ends `failed` (for good, not on a retried attempt)."""

        def register(fn: FailedHook) -> FailedHook:
            if kind in self.failed_hooks:
                raise ValueError(f"on_failed of {kind!r} is already registered")
            self.failed_hooks[kind] = fn
            return fn

        return register

    def on_cancelled(self, kind: str) -> Callable[[CancelledHook], CancelledHook]:
        """Register `async def hook(session, job)`: runs when a *running* job of `kind`
        ends `cancelled`. (A queued job is cancelled at once by `service.request_cancel`
        inside the caller's transaction; the caller updates its own record there.)"""

        def register(fn: CancelledHook) -> CancelledHook:
            if kind in self.cancelled_hooks:
                raise ValueError(f"on_cancelled of {kind!r} is already registered")
            self.cancelled_hooks[kind] = fn
            return fn

        return register

    def periodic(
        self, name: str, interval_seconds: float, callback: PeriodicCallback | None = None
    ) -> Any:
        """Register `async def callback(session, now)` to run once per interval across all
        replicas. It should only enqueue jobs (one per entity, with a dedup key): it runs
        inside the transaction that claims the tick. Usable as a decorator without
        `callback`."""
        if not name or len(name) > MAX_PERIODIC_NAME_LENGTH:
            raise ValueError(f"periodic name must be 1-{MAX_PERIODIC_NAME_LENGTH} characters")
        if interval_seconds <= 0:
            raise ValueError(f"interval of periodic {name!r} must be positive")

        def register(fn: PeriodicCallback) -> PeriodicCallback:
            if name in self.periodics:
                raise ValueError(f"periodic {name!r} is already registered")
            self.periodics[name] = PeriodicSpec(name, float(interval_seconds), fn)
            return fn

        return register if callback is None else register(callback)

    def include(self, other: JobRegistry) -> JobRegistry:
        """Merge another registry (e.g. a domain's) into this one; names must not clash."""
        for spec in other.handlers.values():
            self.handler(
                spec.kind, max_attempts=spec.max_attempts, timeout_seconds=spec.timeout_seconds
            )(spec.fn)
        for kind, failed in other.failed_hooks.items():
            self.on_failed(kind)(failed)
        for kind, cancelled in other.cancelled_hooks.items():
            self.on_cancelled(kind)(cancelled)
        for periodic in other.periodics.values():
            self.periodic(periodic.name, periodic.interval_seconds, periodic.callback)
        return self

    @property
    def default_max_attempts(self) -> dict[str, int]:
        return {kind: spec.max_attempts for kind, spec in self.handlers.items()}

    def validate(self) -> None:
        """A hook without a handler is a typo that would silently never run."""
        orphans = (set(self.failed_hooks) | set(self.cancelled_hooks)) - set(self.handlers)
        if orphans:
            raise ValueError(f"hooks registered for unknown job kinds: {sorted(orphans)}")


def default_registry(settings: Settings) -> JobRegistry:
    """Every job kind and periodic task of the platform (the app and `taichu jobs worker`
    both run this one): the core's diagnostics, then each domain's (taichu.domains).
    Imported here, not at module load: domains import the registry's types themselves."""
    from taichu.domains import installed
    from taichu.jobs import diagnostics

    registry = JobRegistry()
    diagnostics.register(registry)
    for domain in installed():
        if domain.register_jobs is not None:
            domain.register_jobs(registry, settings)
    registry.validate()
    return registry
