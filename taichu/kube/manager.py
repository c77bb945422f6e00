"""ConnectionManager: one cached KubeClient (one connection pool) per cluster and identity.

Clients are lent, not handed out: `async with manager.client(cluster_id, access) as kube`.
A client that is evicted (size bound), replaced (the kubeconfig or token changed) or
invalidated is closed once its last borrower is done, so eviction never breaks a request
in flight, and nothing keeps using stale credentials after its current call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from taichu.kube.access import ClusterAccess
from taichu.kube.budget import ReadBudget
from taichu.kube.client import KubeClient
from taichu.kube.limits import ReadLimits

PLATFORM_IDENTITY = "platform"
"""Identity of the cluster's own registered credentials (its kubeconfig)."""


@dataclass(eq=False)
class _Entry:
    client: KubeClient
    fingerprint: str
    leases: int = 0
    retired: bool = False


class ConnectionManager:
    def __init__(
        self,
        max_clients: int = 256,
        *,
        connect_timeout: float = 5.0,
        request_timeout: float = 15.0,
        limits: ReadLimits | None = None,
    ) -> None:
        self.max_clients = max_clients
        self.limits = limits or ReadLimits()
        # Shared by every client: the bytes read from all clusters at once are bounded.
        self.budget = ReadBudget.of(self.limits)
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def client(
        self, cluster_id: object, access: ClusterAccess, identity: str = PLATFORM_IDENTITY
    ) -> AsyncIterator[KubeClient]:
        """Borrow the client of `cluster_id` as `identity` ("platform", or e.g.
        "user:<uuid>" for a runtime-family bound token). If `access` differs from what the
        cached client was built with, the cached one is replaced. Hold the loan for one
        piece of work (a request, one watch), not for the life of a worker."""
        entry, idle = self._acquire((str(cluster_id), identity), access)
        entry.leases += 1
        try:
            await _close(idle)
            yield entry.client
        finally:
            entry.leases -= 1
            if entry.retired and entry.leases == 0:
                await entry.client.close()

    def _acquire(self, key: tuple[str, str], access: ClusterAccess) -> tuple[_Entry, list[_Entry]]:
        # No await in here: lookup, replacement and eviction happen as one step.
        idle: list[_Entry] = []
        entry = self._entries.get(key)
        if entry is not None and entry.fingerprint == access.fingerprint:
            self._entries.move_to_end(key)
            return entry, idle
        if entry is not None:
            idle += self._retire(key)
        entry = _Entry(
            KubeClient(
                access,
                connect_timeout=self.connect_timeout,
                request_timeout=self.request_timeout,
                limits=self.limits,
                budget=self.budget,
            ),
            access.fingerprint,
        )
        self._entries[key] = entry
        while len(self._entries) > self.max_clients:
            idle += self._retire(next(iter(self._entries)))
        return entry, idle

    def _retire(self, key: tuple[str, str]) -> list[_Entry]:
        """Drop `key` from the cache; returns it if nobody holds it (close it now), else
        its last borrower closes it."""
        entry = self._entries.pop(key)
        entry.retired = True
        return [entry] if entry.leases == 0 else []

    async def invalidate(self, cluster_id: object) -> None:
        """Forget every client of the cluster (deleted, or its credentials changed)."""
        cid = str(cluster_id)
        idle: list[_Entry] = []
        for key in [k for k in self._entries if k[0] == cid]:
            idle += self._retire(key)
        await _close(idle)

    async def close_all(self) -> None:
        """Shutdown: close every client, borrowed or not."""
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            entry.retired = True
        await _close(entries)


async def _close(entries: list[_Entry]) -> None:
    for entry in entries:
        await entry.client.close()
