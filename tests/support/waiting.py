"""Polling for what happens on its own time (controllers, watches, job runners)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


async def wait_for(
    fetch: Callable[[], Any],
    predicate: Callable[[Any], bool] = bool,
    timeout: float = 30,
    interval: float = 0.3,
) -> Any:
    """Poll `fetch()` (plain or async) until `predicate(value)`; returns the value, fails
    with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if inspect.isawaitable(value):
            value = await value
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value}")
        await asyncio.sleep(interval)


def wait_until(
    fetch: Callable[[], Any],
    predicate: Callable[[Any], bool] = bool,
    timeout: float = 30,
    interval: float = 0.3,
) -> Any:
    """`wait_for` for synchronous tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value}")
        time.sleep(interval)


def wait_process_stopped(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP is asynchronous: a busy thread may still answer one request before the
    kernel stops it. Wait until every thread of the process is in state T."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [
            (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            for task in Path(f"/proc/{pid}/task").iterdir()
        ]
        if all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop within {timeout}s")
