from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from taichu.config import Settings
from taichu.context import AppContext
from taichu.jobs.registry import JobRegistry
from taichu.jobs.runner import JobRunner
from tests.jobs.plugin import Probe, build_registry

FAST_JOBS: dict[str, Any] = {
    "concurrency": 4,
    "poll_interval_seconds": 0.05,
    "lease_seconds": 3.0,
    "retry_base_seconds": 0.1,
    "retry_max_seconds": 0.2,
    "shutdown_grace_seconds": 0.5,
    "cancel_grace_seconds": 0.5,
}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(jobs=FAST_JOBS)


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def registry(probe: Probe) -> JobRegistry:
    return build_registry(probe)


@pytest.fixture
async def start_runner(ctx: AppContext, registry: JobRegistry) -> AsyncIterator[Callable[..., Any]]:
    """Starts runners (stopped at teardown). Each may get its own context/registry/id."""
    runners: list[JobRunner] = []

    async def _start(
        worker_id: str = "worker-a",
        *,
        app: AppContext | None = None,
        jobs_registry: JobRegistry | None = None,
        **kwargs: Any,
    ) -> JobRunner:
        runner = JobRunner(app or ctx, jobs_registry or registry, worker_id, **kwargs)
        await runner.start()
        runners.append(runner)
        return runner

    yield _start
    for runner in reversed(runners):
        await runner.stop()


@pytest.fixture(autouse=True)
def no_crashed_job_tasks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A job task must never die with an unhandled exception (that would leave its job
    running until the lease expires)."""
    caplog.set_level(logging.INFO, logger="taichu.jobs")
    yield
    crashed = [r.getMessage() for r in caplog.records if "crashed" in r.getMessage()]
    assert not crashed, crashed
