"""A create task's log (written in batches by the run): a flush cancelled mid-write (the
run ending cancels its flusher) or failed loses no line, and the memory it holds is
bounded by what the task keeps."""

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
