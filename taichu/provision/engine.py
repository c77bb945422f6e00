"""The step pipeline runner: builds the plan of a task, runs each step over its machines
(bounded, in parallel) with a journal per (task, step, machine) so a retry or a resumed
run skips what was done, reports progress and the current step, and ends the task with
the register step (its own) or fails it naming the machine, the step and the output."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs import tracked
from taichu.jobs.errors import JobCancelled, JobLeaseLost, PermanentJobError
from taichu.jobs.jobcontext import JobContext
from taichu.machines import service as machines
from taichu.provision.models import (
    CLUSTER_WIDE,
    STEP_DONE,
    STEP_FAILED,
    STEP_RUNNING,
    CreateTaskStep,
)
from taichu.provision.plan import (
    NodePlan,
    Pipeline,
    Step,
    StepFailed,
    TaskCancelled,
)
from taichu.provision.runtime import EngineContext, Run, tail
from taichu.timeutil import utcnow

log = logging.getLogger("taichu.provision")


def load_pipeline(name: str) -> Pipeline:
    """The pipeline module's `PIPELINE` (setting provision.pipeline)."""
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        raise PermanentJobError(f"the installer pipeline {name} is not available: {e}") from e
    pipeline = getattr(module, "PIPELINE", None)
    if not isinstance(pipeline, Pipeline):
        raise PermanentJobError(f"{name} has no PIPELINE (taichu.provision.plan.Pipeline)")
    return pipeline


def failure_message(run: Run, failure: StepFailed) -> str:
    where = f"{run.where(failure.node)}: " if failure.node is not None else ""
    text = f"{where}{failure.step}: {failure.message}"
    return f"{text}\n{failure.output}" if failure.output else text


def _key(node: NodePlan | None) -> str:
    return node.machine_id if node is not None else CLUSTER_WIDE


async def _journal(app: AppContext, task_id: str, step: str) -> dict[str, CreateTaskStep]:
    async with app.read_sessions() as session:
        rows = await session.scalars(
            select(CreateTaskStep).where(
                CreateTaskStep.task_id == task_id, CreateTaskStep.step == step
            )
        )
        return {r.machine_id: r for r in rows}


async def _mark(
    app: AppContext, task_id: str, step: str, machine_id: str, status: str, output: str = ""
) -> None:
    async with transaction(app.sessions) as session:
        row = await session.scalar(
            select(CreateTaskStep).where(
                CreateTaskStep.task_id == task_id,
                CreateTaskStep.step == step,
                CreateTaskStep.machine_id == machine_id,
            )
        )
        if row is None:
            row = CreateTaskStep(task_id=task_id, step=step, machine_id=machine_id, attempt=0)
            session.add(row)
        if status == STEP_RUNNING:
            row.attempt = (row.attempt or 0) + 1
            row.started_at, row.finished_at, row.output = utcnow(), None, ""
        else:
            row.finished_at = utcnow()
            row.output = output
        row.status = status


async def _run_one(run: Run, step: Step, node: NodePlan | None) -> StepFailed | None:
    """One (step, machine): journal `running`, the body under the step timeout, then
    `done` or `failed`. Returns the failure instead of raising it, so the step's other
    machines finish what they are doing."""
    app, task_id = run.app, run.plan.task_id
    settings = app.settings.provision
    await _mark(app, task_id, step.name, _key(node), STEP_RUNNING)
    ctx = EngineContext(run, step)
    try:
        async with asyncio.timeout(settings.step_timeout_seconds):
            await step.run(ctx, node)
    except StepFailed as e:
        failure = e
    except TimeoutError:
        failure = StepFailed(
            node, step.title, f"did not finish within {settings.step_timeout_seconds:g}s"
        )
    except (TaskCancelled, JobCancelled, JobLeaseLost, asyncio.CancelledError):
        raise
    except Exception as e:  # a defect of a step body: fail readably, never retry forever
        log.exception("step %s of create task %s raised", step.name, task_id)
        failure = StepFailed(node, step.title, f"{type(e).__name__}: {e}")
    else:
        await _mark(app, task_id, step.name, _key(node), STEP_DONE)
        await ctx.log(node, "done")
        return None
    output = tail(failure.output, settings.output_tail_chars)
    await ctx.log(node, f"failed: {failure.message}")
    await _mark(
        app,
        task_id,
        step.name,
        _key(node),
        STEP_FAILED,
        tail(failure.message + "\n" + output, 4000),
    )
    return failure


async def run_step(run: Run, step: Step) -> bool:
    """Run `step` where it is not done yet; False when there was nothing left to do."""
    targets: Sequence[NodePlan | None] = step.each(run.plan) if step.each else [None]
    journal = await _journal(run.app, run.plan.task_id, step.name)
    todo = [t for t in targets if getattr(journal.get(_key(t)), "status", None) != STEP_DONE]
    skipped = len(targets) - len(todo)
    if skipped:
        run.log.add("cluster", step.name, f"{skipped} already done, skipped")
    if not todo:
        return False
    gate = asyncio.Semaphore(run.app.settings.provision.concurrency)

    async def bounded(node: NodePlan | None) -> StepFailed | None:
        async with gate:
            return await _run_one(run, step, node)

    tasks = [asyncio.create_task(bounded(t)) for t in todo]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        # Cancelled or the lease lost: no machine goes on with this step unattended.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    failures = [f for f in results if f is not None]
    if failures:
        raise PermanentJobError(failure_message(run, failures[0]))
    return True


async def boundary(job: JobContext, run: Run, progress: float, step: Step) -> None:
    """Between steps: honour a cancel, then say what runs next."""
    model, record_id = run.run_record
    if await run.cancel_wanted():
        raise JobCancelled(f"{run.run_label} was cancelled")
    await tracked.report(
        job, model, record_id, progress, step.title, missing=f"{run.run_label} vanished"
    )


async def run_pipeline(job: JobContext, run: Run, steps: Sequence[Step]) -> None:
    total = sum(s.weight for s in steps) or 1
    done = 0
    flusher = asyncio.create_task(run.log.flusher())
    try:
        for step in steps:
            await boundary(job, run, 100.0 * done / total, step)
            try:
                await run_step(run, step)
            except TaskCancelled as e:
                raise JobCancelled(str(e)) from e
            done += step.weight
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        await run.log.flush()
        await run.close()


async def targets_of(app: AppContext, ids: Sequence[str]) -> dict[str, Any]:
    """Machine id -> (inventory machine name, SshTarget), decrypted in the job only."""
    async with app.read_sessions() as session:
        pairs = await machines.machine_targets(session, ids, app.box)
        return {m.id: (m.name, target) for m, target in pairs}
