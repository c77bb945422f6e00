"""The in-memory counters of one replica: per window (a minute) and client address.

Recording is a few dict and integer operations on the event loop, no I/O and no awaits
(so it is atomic under asyncio). Memory is bounded: at most `max_addresses` addresses per
window (later ones are counted together under `other`) and at most `max_distinct`
missing paths, usernames and users per address and window; values are truncated.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

# Upper bounds (ms) of the latency histogram's buckets; one more bucket counts the rest.
# Fixed, so histograms of several replicas add up and p50/p99 merge exactly.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
    1000, 1500, 2000, 3000, 5000, 10000, 30000,
)  # fmt: skip
_BOUNDS_S = tuple(bound / 1000 for bound in LATENCY_BOUNDS_MS)
BUCKETS = len(LATENCY_BOUNDS_MS) + 1
OTHER = "other"  # addresses past the per-window cap
UNKNOWN = "unknown"  # no peer address (or a garbled proxy chain)
MAX_PATH = 200
MAX_NAME = 150
# The additive counts of a sample (its columns too: taichu/traffic/models.py).
COUNTERS = (
    "requests",
    "blocked",
    "monitored",
    "status_2xx",
    "status_4xx",
    "status_5xx",
    "status_401",
    "status_403",
    "status_404",
    "login_failures",
    "bytes_in",
    "bytes_out",
)


class Counts:
    """One address in one window, on one replica."""

    __slots__ = (*COUNTERS, "latency", "missing_paths", "usernames", "users")

    def __init__(self) -> None:
        self.requests = self.blocked = self.monitored = 0
        self.status_2xx = self.status_4xx = self.status_5xx = 0
        self.status_401 = self.status_403 = self.status_404 = 0
        self.login_failures = self.bytes_in = self.bytes_out = 0
        self.missing_paths: set[str] = set()
        self.usernames: dict[str, int] = {}  # username -> login failures
        self.users: set[str] = set()
        self.latency = [0] * BUCKETS

    def row(self) -> dict[str, Any]:
        """The columns of its sample row (sets as sorted lists)."""
        return {
            "requests": self.requests,
            "blocked": self.blocked,
            "monitored": self.monitored,
            "status_2xx": self.status_2xx,
            "status_4xx": self.status_4xx,
            "status_5xx": self.status_5xx,
            "status_401": self.status_401,
            "status_403": self.status_403,
            "status_404": self.status_404,
            "login_failures": self.login_failures,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "missing_paths": sorted(self.missing_paths),
            "usernames": dict(self.usernames),
            "users": sorted(self.users),
            "latency": list(self.latency),
        }


@dataclass(frozen=True, slots=True)
class Request:
    """What the middleware saw of one request."""

    ip: str | None
    status: int
    path: str
    seconds: float
    bytes_in: int = 0
    bytes_out: int = 0
    blocked: bool = False
    monitored: bool = False
    login_failure: str | None = None
    user: str | None = None


class Sampler:
    def __init__(self, window_seconds: int, max_addresses: int, max_distinct: int) -> None:
        self.window_seconds = window_seconds
        self.max_addresses = max_addresses
        self.max_distinct = max_distinct
        self._windows: dict[int, dict[str, Counts]] = {}

    def window_of(self, epoch: float) -> int:
        return int(epoch // self.window_seconds)

    def record(self, seen: Request, now: float | None = None) -> None:
        # Bucketed by when the request ended: nothing is ever added to a window that has
        # already been taken for writing.
        index = self.window_of(time.time() if now is None else now)
        window = self._windows.get(index)
        if window is None:
            window = self._windows[index] = {}
        ip = seen.ip or UNKNOWN
        counts = window.get(ip)
        if counts is None:
            if len(window) >= self.max_addresses:
                ip = OTHER
                counts = window.get(ip)
            if counts is None:
                counts = window[ip] = Counts()
        counts.requests += 1
        counts.bytes_in += seen.bytes_in
        counts.bytes_out += seen.bytes_out
        counts.latency[bisect_left(_BOUNDS_S, seen.seconds)] += 1
        if seen.blocked:
            # A refusal caused by a block is not evidence (the ban must not feed itself).
            counts.blocked += 1
            return
        if seen.monitored:
            counts.monitored += 1
        status = seen.status
        if status < 300:
            counts.status_2xx += 1
        elif 400 <= status < 500:
            counts.status_4xx += 1
            if status == 401:
                counts.status_401 += 1
            elif status == 403:
                counts.status_403 += 1
            elif status == 404:
                counts.status_404 += 1
                paths = counts.missing_paths
                if len(paths) < self.max_distinct:
                    paths.add(seen.path[:MAX_PATH])
        elif status >= 500:
            counts.status_5xx += 1
        if seen.login_failure is not None:
            counts.login_failures += 1
            name = seen.login_failure[:MAX_NAME]
            names = counts.usernames
            if name in names:
                names[name] += 1
            elif len(names) < self.max_distinct:
                names[name] = 1
        if seen.user is not None and len(counts.users) < self.max_distinct:
            counts.users.add(seen.user[:MAX_NAME])

    def take_closed(self, now: float | None = None) -> dict[int, dict[str, Counts]]:
        """Remove and return the windows that have ended."""
        current = self.window_of(time.time() if now is None else now)
        closed = [index for index in self._windows if index < current]
        return {index: self._windows.pop(index) for index in closed}

    def take_all(self) -> dict[int, dict[str, Counts]]:
        taken, self._windows = self._windows, {}
        return taken

    def put_back(self, windows: dict[int, dict[str, Counts]], keep: int) -> int:
        """Return windows whose write failed, keeping at most `keep` windows in memory
        (the oldest are dropped); returns how many were dropped."""
        for index, window in windows.items():
            mine = self._windows.setdefault(index, {})
            for ip, counts in window.items():
                merge_into(mine.setdefault(ip, Counts()), counts, self.max_distinct)
        dropped = sorted(self._windows)[:-keep] if len(self._windows) > keep else []
        for index in dropped:
            del self._windows[index]
        return len(dropped)


def merge_into(target: Counts, other: Counts, max_distinct: int) -> None:
    for name in COUNTERS:
        setattr(target, name, getattr(target, name) + getattr(other, name))
    for path in other.missing_paths:
        if len(target.missing_paths) < max_distinct:
            target.missing_paths.add(path)
    for user in other.users:
        if len(target.users) < max_distinct:
            target.users.add(user)
    for name, failures in other.usernames.items():
        if name in target.usernames or len(target.usernames) < max_distinct:
            target.usernames[name] = target.usernames.get(name, 0) + failures
    target.latency = [a + b for a, b in zip(target.latency, other.latency, strict=True)]


def percentile_ms(histogram: list[int], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the q-quantile; None with no requests.
    Past the last bound it is that bound (reported as "at least")."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank and count:
            return float(LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)])
    return float(LATENCY_BOUNDS_MS[-1])
