"""Helpers of the clusters area's browser tests."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Runs `fn` in a thread of its own: sync Playwright keeps an event loop running in
    the test thread once the browser has started, and asyncio.run (the console's database
    set-up, the seeding) refuses to start under it."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()
