"""Running jobs: outcomes, retries, permanent errors, cancellation, progress, timeouts,
graceful stop."""

from __future__ import annotations

import asyncio
from typing import Any

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs import service
from taichu.jobs.runner import JobRunner
from tests.jobs.conftest import FAST_JOBS
from tests.jobs.helpers import enqueue, load, wait_for
from tests.jobs.plugin import Probe

Start = Any


async def test_job_succeeds_with_result_and_bookkeeping(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    runner: JobRunner = await start_runner()
    job_id = await enqueue(ctx, "test.echo", {"cluster_id": "c1"})
    runner.wake()
    job = await wait_for(ctx, job_id)
    assert job.status == "succeeded", job.error
    assert job.result == {"echo": {"cluster_id": "c1"}, "worker": "worker-a"}
    assert job.attempts == 1 and job.max_attempts == 3  # the kind's default, fixed at claim
    assert job.progress == 100.0 and job.error is None
    assert job.started_at is not None and job.finished_at is not None
    assert job.locked_until is None
    assert probe.runs == [("test.echo", job_id, 1, "worker-a")]


async def test_retries_with_backoff_then_succeeds(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner()
    job_id = await enqueue(ctx, "test.flaky", {"fail_times": 2})
    job = await wait_for(ctx, job_id)
    assert job.status == "succeeded" and job.attempts == 3
    assert job.result == {"attempt": 3} and job.error is None
    first, second, third = probe.run_times[job_id]
    # retry_base 0.1s doubling, capped at 0.2s.
    assert second - first >= 0.1 and third - second >= 0.2


async def test_exhausted_retries_fail_with_readable_error_and_hook(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner()
    job_id = await enqueue(ctx, "test.flaky", {"fail_times": 99}, max_attempts=2)
    job = await wait_for(ctx, job_id)
    assert job.status == "failed" and job.attempts == 2
    assert job.error == "RuntimeError: boom 2"  # the message, never a traceback
    # The hook ran once, inside the transaction that wrote the final state.
    assert probe.failed == [(job_id, "RuntimeError: boom 2", "failed")]


async def test_permanent_errors_are_not_retried(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner()
    permanent = await enqueue(ctx, "test.permanent")
    invalid = await enqueue(ctx, "test.invalid")
    unavailable = await enqueue(ctx, "test.unavailable")
    not_json = await enqueue(ctx, "test.not_json")
    job = await wait_for(ctx, permanent)
    assert (job.status, job.attempts, job.error) == ("failed", 1, "the payload names no cluster")
    job = await wait_for(ctx, invalid)  # TaichuError 422: bad input stays bad
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error == "pod_cidr '10.0.0.0/33' is not a valid CIDR"
    job = await wait_for(ctx, unavailable)  # 503: worth retrying
    assert (job.status, job.attempts, job.error) == ("failed", 2, "cluster c1 is unreachable")
    job = await wait_for(ctx, not_json)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error is not None and "not JSON" in job.error
    assert {entry[0] for entry in probe.failed} == {permanent, invalid, unavailable, not_json}


async def test_progress_and_step_are_visible_while_running(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner()
    job_id = await enqueue(ctx, "test.gate", {"gate": "g"})
    job = await wait_for(ctx, job_id, {"running"}, check=lambda j: j.progress == 50)
    assert job.step == "waiting for the gate" and job.locked_by == "worker-a"
    probe.gate("g").set()
    job = await wait_for(ctx, job_id)
    assert job.status == "succeeded" and job.progress == 100.0


async def test_cancel_running_job_reaches_the_handler_and_hook(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner()
    job_id = await enqueue(ctx, "test.gate")
    await wait_for(ctx, job_id, {"running"}, check=lambda j: j.progress == 50)
    async with transaction(ctx.sessions) as session:
        job = await service.request_cancel(session, job_id)
        assert job.status == "running" and job.cancel_requested
    job = await wait_for(ctx, job_id)
    assert job.status == "cancelled" and job.finished_at is not None and job.attempts == 1
    assert probe.cancelled == [(job_id, "cancelled")]
    assert probe.failed == []


async def test_cancel_ignored_by_the_handler_is_enforced_after_grace(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    """A handler that never checks: after cancel_grace (0.5s) its task is cancelled."""
    await start_runner()
    job_id = await enqueue(ctx, "test.gate", {"deaf": True})
    await wait_for(ctx, job_id, {"running"}, check=lambda j: j.progress == 50)
    async with transaction(ctx.sessions) as session:
        await service.request_cancel(session, job_id)
    job = await wait_for(ctx, job_id, within=5)
    assert job.status == "cancelled"
    assert probe.cancelled == [(job_id, "cancelled")]
    assert (job_id, 1, "worker-a") in probe.interrupted


async def test_failing_hook_does_not_leave_the_job_running(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner()
    job_id = await enqueue(ctx, "test.bad_hook")
    job = await wait_for(ctx, job_id, within=10)
    assert job.status == "failed"
    assert job.error == (
        "RuntimeError: the import went wrong (its on_failed hook failed too; see the log)"
    )


async def test_cancelled_job_in_retry_wait_is_not_run_again(
    ctx: AppContext, start_runner: Start, probe: Probe, make_settings: Any
) -> None:
    # Its own context with a long retry delay, so the cancel surely lands in the wait.
    slow_retry = AppContext.create(make_settings(jobs={**FAST_JOBS, "retry_base_seconds": 5}))
    runner: JobRunner = await start_runner(app=slow_retry)
    job_id = await enqueue(ctx, "test.flaky", {"fail_times": 99}, max_attempts=3)
    await wait_for(ctx, job_id, {"queued"}, check=lambda j: j.attempts == 1)
    async with transaction(ctx.sessions) as session:
        assert (await service.request_cancel(session, job_id)).status == "cancelled"
    await asyncio.sleep(0.5)
    assert (await load(ctx, job_id)).status == "cancelled"
    assert len(probe.run_times[job_id]) == 1
    await runner.stop()
    await slow_retry.close()


async def test_timeout_fails_the_attempt(
    ctx: AppContext, start_runner: Start, probe: Probe
) -> None:
    await start_runner()
    job_id = await enqueue(ctx, "test.slow")
    job = await wait_for(ctx, job_id, within=5)
    assert job.status == "failed" and job.error == "timed out after 0.3s"
    assert probe.failed == [(job_id, "timed out after 0.3s", "failed")]


async def test_graceful_stop_releases_unfinished_jobs(
    ctx: AppContext, start_runner: Start, probe: Probe, make_settings: Any
) -> None:
    # Its own context with a grace that a job finishing 0.1 s into it surely meets.
    graceful = AppContext.create(make_settings(jobs={**FAST_JOBS, "shutdown_grace_seconds": 3}))
    runner: JobRunner = await start_runner(app=graceful)
    stuck = await enqueue(ctx, "test.gate", {"gate": "never"})
    quick = await enqueue(ctx, "test.gate", {"gate": "soon"})
    for job_id in (stuck, quick):
        await wait_for(ctx, job_id, {"running"}, check=lambda j: j.progress == 50)

    async def open_soon() -> None:
        await asyncio.sleep(0.1)
        probe.gate("soon").set()

    opener = asyncio.create_task(open_soon())
    await runner.stop()  # grace 3s: `quick` finishes, `stuck` is released
    await opener
    await graceful.close()
    job = await load(ctx, quick)
    assert job.status == "succeeded"
    job = await load(ctx, stuck)
    assert job.status == "queued" and job.attempts == 0  # the attempt is not counted
    assert job.locked_by is None and job.locked_until is None
    assert (stuck, 1, "worker-a") in probe.interrupted

    # Another runner picks it up as a first attempt.
    await start_runner("worker-b")
    probe.gate("never").set()
    job = await wait_for(ctx, stuck)
    assert job.status == "succeeded" and job.attempts == 1 and job.locked_by == "worker-b"


async def test_run_until_idle(ctx: AppContext, start_runner: Start, probe: Probe) -> None:
    runner: JobRunner = await start_runner()
    ids = [await enqueue(ctx, "test.echo", {"sleep": 0.05}) for _ in range(10)]
    await runner.run_until_idle(10)
    assert {(await load(ctx, job_id)).status for job_id in ids} == {"succeeded"}
