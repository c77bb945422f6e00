"""Polling for what happens on its own time (controllers, watches, job runners)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
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
