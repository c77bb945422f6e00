"""A create task's log (written in batches by the run): a flush cancelled mid-write (the
run ending cancels its flusher) or failed loses no line, and the memory it holds is
bounded by what the task keeps; the transaction that ends a run writes its log too."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.provision.models import CreateTask, CreateTaskLog
from taichu.provision.runtime import TaskLog


async def _task(ctx: AppContext) -> str:
    async with transaction(ctx.sessions) as session:
        task = CreateTask(
            cluster_name="log-test",
            kubernetes_version="v1.36.3",
            network_plugin="flannel",
            artifact_name="bundle",
        )
        session.add(task)
        await session.flush()
        return task.id


async def _lines(ctx: AppContext, task_id: str) -> list[str]:
    async with ctx.read_sessions() as session:
        rows = await session.scalars(
            select(CreateTaskLog.line)
            .where(CreateTaskLog.task_id == task_id)
            .order_by(CreateTaskLog.seq)
        )
        return list(rows)


async def test_a_cancelled_flush_loses_no_line(ctx: AppContext) -> None:
    task_id = await _task(ctx)
    log = TaskLog(ctx, task_id, keep=100)
    log.add("cp-1", "upload", "first\nsecond")
    writing = asyncio.create_task(log.flush())
    await asyncio.sleep(0)  # the flush has taken its lines and waits on the database
    log.add("cp-1", "upload", "third")  # added while it writes
    writing.cancel()
    await asyncio.gather(writing, return_exceptions=True)
    await log.flush()  # the run's final flush
    assert await _lines(ctx, task_id) == ["first", "second", "third"]
    assert log.pending == []


async def test_pending_lines_are_bounded_by_what_the_task_keeps(ctx: AppContext) -> None:
    task_id = await _task(ctx)
    log = TaskLog(ctx, task_id, keep=5)
    for n in range(12):
        log.add("w-1", "distribute", f"line {n}")
    assert len(log.pending) == 5
    await log.flush()
    log.add("w-1", "distribute", "line 12")
    await log.flush()
    assert await _lines(ctx, task_id) == [f"line {n}" for n in range(8, 13)]


async def test_a_run_ending_in_the_closing_transaction_commits_its_log_with_it(
    ctx: AppContext,
) -> None:
    task_id = await _task(ctx)
    log = TaskLog(ctx, task_id, keep=100)
    log.add("cluster", "needs", "2 already done, skipped")
    async with log.closing_transaction() as session:
        flushing = asyncio.create_task(log.flush())  # the flusher's turn comes meanwhile
        await asyncio.sleep(0)
        task = await session.get(CreateTask, task_id)
        assert task is not None
        task.status = "completed"
        log.add("cluster", "register", "API server: healthy")  # logged before the end
    await flushing
    async with ctx.read_sessions() as session:
        task = await session.get(CreateTask, task_id)
        assert task is not None and task.status == "completed"
    assert await _lines(ctx, task_id) == ["2 already done, skipped", "API server: healthy"]
    assert log.pending == []


async def test_a_closing_transaction_that_fails_keeps_its_lines(ctx: AppContext) -> None:
    task_id = await _task(ctx)
    log = TaskLog(ctx, task_id, keep=100)
    log.add("cluster", "register", "API server: unreachable")
    try:
        async with log.closing_transaction() as session:
            task = await session.get(CreateTask, task_id)
            assert task is not None
            task.status = "completed"
            raise RuntimeError("the cluster was deleted during its creation")
    except RuntimeError:
        pass
    async with ctx.read_sessions() as session:
        task = await session.get(CreateTask, task_id)
        assert task is not None and task.status != "completed"
    assert await _lines(ctx, task_id) == []
    assert [line for *_, line in log.pending] == ["API server: unreachable"]
    await log.flush()
    assert await _lines(ctx, task_id) == ["API server: unreachable"]
