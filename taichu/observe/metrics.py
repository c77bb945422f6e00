"""Node usage from the metrics API (metrics.k8s.io, served by metrics-server), when the
cluster serves it. Fetched on demand and reused for a short while: metrics-server itself
only refreshes every 15-60 s, and one list serves every page of every request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from taichu.config import ObserveSettings
from taichu.errors import TaichuError
from taichu.kube import ClusterNotFound, KubeClient
from taichu.kube.informer import ClientSource, describe_failure
from taichu.kube.quantity import byte_count, cpu_cores

log = logging.getLogger("taichu.observe")

NODE_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"
NOT_SERVED = (
    "the cluster does not serve the metrics API (metrics.k8s.io; install "
    "metrics-server): CPU and memory usage are unavailable"
)


@dataclass(frozen=True)
class UsageSnapshot:
    available: bool
    note: str | None
    # node name -> (CPU cores in use, memory bytes in use)
    usage: dict[str, tuple[float, int]] = field(default_factory=dict)

    def of(self, node: str) -> tuple[float, int] | None:
        return self.usage.get(node)


_PENDING = UsageSnapshot(False, "usage has not been read from metrics.k8s.io yet")


class NodeMetrics:
    def __init__(self, source: ClientSource, settings: ObserveSettings) -> None:
        self._source = source
        self._settings = settings
        self.snapshot = _PENDING
        self.fetched_at: float | None = None  # monotonic
        self.fetches = 0
        self._task: asyncio.Task[None] | None = None

    async def current(self) -> UsageSnapshot:
        """The latest usage, refreshed when older than the TTL. A slow metrics API delays
        a request by at most `metrics_wait_seconds`; it then gets what is known."""
        fresh = (
            self.fetched_at is not None
            and time.monotonic() - self.fetched_at < self._settings.metrics_ttl_seconds
        )
        if fresh:
            return self.snapshot
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._fetch(), name="observe:metrics")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), self._settings.metrics_wait_seconds)
        return self.snapshot

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _fetch(self) -> None:
        try:
            async with self._source() as kube:
                self.snapshot = await read_usage(kube)
        except TaichuError as e:  # no client to be had
            self.snapshot = _unanswered(describe_failure(e))
        self.fetched_at = time.monotonic()
        self.fetches += 1


async def read_usage(kube: KubeClient) -> UsageSnapshot:
    """Node usage from the metrics API, once; never stale or invented numbers: without an
    answer there is no usage, and the snapshot says why."""
    try:
        doc = await kube.get(NODE_METRICS_PATH)
    except ClusterNotFound:
        return UsageSnapshot(False, NOT_SERVED)
    except TaichuError as e:
        return _unanswered(describe_failure(e))
    usage: dict[str, tuple[float, int]] = {}
    try:
        for item in doc.get("items") or []:
            name = (item.get("metadata") or {}).get("name")
            values = item.get("usage") or {}
            if name and "cpu" in values and "memory" in values:
                usage[name] = (cpu_cores(values["cpu"]), byte_count(values["memory"]))
    except (ValueError, TypeError, AttributeError):
        # Not quoted: the metrics API's answer is the cluster's, not a message for users.
        return _unanswered("the metrics API answered usage that is not node metrics")
    return UsageSnapshot(True, None, usage)


def _unanswered(reason: str) -> UsageSnapshot:
    log.info("observe metrics: %s", reason)
    return UsageSnapshot(False, f"the metrics API did not answer, usage is unavailable: {reason}")
