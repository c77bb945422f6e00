"""The watch-fed cache of what clusters contain: nodes and pods (and events, once asked
for), slimmed, per cluster and identity.

    view = await ctx.observe.view(cluster_id, access)   # first view waits for the lists
    view.nodes(); view.node("worker-1"); view.pods("default"); view.pod_counts()
    view.totals("worker-1").cpu_requests; await view.usage(); await view.events()

A cluster's cache starts when it is first viewed, follows the cluster through watches,
and stops after `idle_seconds` without a view, or on `invalidate(cluster_id)` (cluster
deleted or its credentials changed). A cluster that cannot be read answers 503 at once;
a first view waits at most `sync_timeout_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from taichu.config import ObserveSettings
from taichu.kube import PLATFORM_IDENTITY, ClusterAccess, ConnectionManager, KubeClient
from taichu.kube.informer import ClientSource, Informer
from taichu.observe.access_decisions import AccessDecisions
from taichu.observe.metrics import NodeMetrics, UsageSnapshot
from taichu.observe.slim import Obj, SlimEvent, SlimNode, SlimPod
from taichu.observe.stores import EventStore, NodeStore, NodeTotals, PodStore

_NO_PODS = NodeTotals()


@dataclass(frozen=True)
class NodeSummary:
    total: int
    control_plane: int
    worker: int
    ready: int


class ClusterCache:
    """The informers of one cluster as one identity."""

    def __init__(
        self,
        key: tuple[str, str],
        access: ClusterAccess,
        manager: ConnectionManager,
        settings: ObserveSettings,
    ) -> None:
        cluster_id, identity = key
        self.key = key
        self.fingerprint = access.fingerprint
        self.settings = settings

        def source() -> contextlib.AbstractAsyncContextManager[KubeClient]:
            return manager.client(cluster_id, access, identity)

        self._source: ClientSource = source
        self.nodes = Informer("nodes", "/api/v1/nodes", NodeStore, source, settings, cluster_id)
        self.pods = Informer("pods", "/api/v1/pods", PodStore, source, settings, cluster_id)
        self.events: Informer[EventStore] | None = None
        self.metrics = NodeMetrics(source, settings)
        self.last_viewed = time.monotonic()

    def start(self) -> None:
        self.nodes.start()
        self.pods.start()

    def touch(self) -> None:
        self.last_viewed = time.monotonic()

    def events_informer(self) -> Informer[EventStore]:
        if self.events is None:
            self.events = Informer(
                "events", "/api/v1/events", EventStore, self._source, self.settings, self.key[0]
            )
            self.events.start()
        return self.events

    async def wait_synced(self, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        await self.nodes.wait_synced(wait_seconds)
        await self.pods.wait_synced(max(0.0, deadline - time.monotonic()))

    async def stop(self) -> None:
        for informer in (self.nodes, self.pods, self.events):
            if informer is not None:
                await informer.stop()
        await self.metrics.stop()


class StoreView:
    """Reads of a node store and a pod store. Methods return the stores' own records
    (frozen); lists are shared, so do not mutate them."""

    def __init__(self, nodes: Callable[[], NodeStore], pods: Callable[[], PodStore]) -> None:
        self._node_store = nodes  # callables: an informer swaps in a new store on relist
        self._pod_store = pods

    @classmethod
    def listed(cls, nodes: list[Obj], pods: list[Obj]) -> StoreView:
        """A view of one-off lists (for identities that have no cache)."""
        node_store, pod_store = NodeStore(), PodStore()
        for node in nodes:
            node_store.upsert(node)
        for pod in pods:
            pod_store.upsert(pod)
        return cls(lambda: node_store, lambda: pod_store)

    @property
    def _nodes(self) -> NodeStore:
        return self._node_store()

    @property
    def _pods(self) -> PodStore:
        return self._pod_store()

    def node_names(self) -> list[str]:
        """Every node name, sorted (cached until a node comes or goes)."""
        return self._nodes.names()

    def nodes(self) -> list[SlimNode]:
        store = self._nodes
        return [store.by_name[name] for name in store.names()]

    def node(self, name: str) -> SlimNode | None:
        return self._nodes.by_name.get(name)

    def summary(self) -> NodeSummary:
        store = self._nodes
        total = len(store)
        return NodeSummary(
            total=total,
            control_plane=store.control_plane,
            worker=total - store.control_plane,
            ready=store.ready,
        )

    def pods(self, namespace: str | None = None) -> list[SlimPod]:
        """Pods of one namespace (or all), sorted by namespace and name."""
        store = self._pods
        if namespace is not None:
            return store.in_namespace(namespace)
        return [pod for ns in store.namespaces() for pod in store.in_namespace(ns)]

    def pod(self, namespace: str, name: str) -> SlimPod | None:
        members = self._pods.by_namespace.get(namespace) or {}
        return next((p for p in members.values() if p.name == name), None)

    def namespaces(self) -> list[str]:
        """Namespaces that have pods (the cache does not watch Namespace objects)."""
        return self._pods.namespaces()

    def pod_counts(self) -> dict[str, int]:
        """Non-terminated pods per node name (nodes without any are absent)."""
        return {name: t.pods for name, t in self._pods.node_totals.items()}

    def totals(self, node: str) -> NodeTotals:
        """Pod count and summed requests/limits of the node's non-terminated pods."""
        return self._pods.node_totals.get(node, _NO_PODS)

    def requested(self, node: str) -> tuple[float, int]:
        """(CPU cores, memory bytes) requested by the node's non-terminated pods."""
        totals = self.totals(node)
        return totals.cpu_requests, totals.memory_requests


class ClusterView(StoreView):
    """Reads of one synced cluster cache."""

    def __init__(self, cache: ClusterCache) -> None:
        super().__init__(lambda: cache.nodes.store, lambda: cache.pods.store)
        self.cache = cache

    async def usage(self) -> UsageSnapshot:
        """Node usage from metrics.k8s.io; `available` is False (with a note) when the
        cluster does not serve it."""
        return await self.cache.metrics.current()

    async def events(self, wait_seconds: float | None = None) -> list[SlimEvent]:
        """The cluster's core/v1 Events, newest first (starts their watch on first use)."""
        informer = self.cache.events_informer()
        store = await informer.wait_synced(wait_seconds or self.cache.settings.sync_timeout_seconds)
        return store.newest_first()


class ObserveHub:
    """Every cluster cache of the process (one per cluster and identity)."""

    def __init__(self, manager: ConnectionManager, settings: ObserveSettings | None = None) -> None:
        self.manager = manager
        self.settings = settings or ObserveSettings()
        self.decisions = AccessDecisions(self.settings.authorization_ttl_seconds)
        self._caches: dict[tuple[str, str], ClusterCache] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    async def view(
        self,
        cluster_id: object,
        access: ClusterAccess,
        identity: str = PLATFORM_IDENTITY,
        *,
        wait_seconds: float | None = None,
    ) -> ClusterView:
        """The cluster's view, starting its cache (and waiting for the first lists) if
        needed. Raises Unavailable (503) when the cluster cannot be read."""
        cache = await self._cache((str(cluster_id), identity), access)
        await cache.wait_synced(wait_seconds or self.settings.sync_timeout_seconds)
        return ClusterView(cache)

    async def events(
        self,
        cluster_id: object,
        access: ClusterAccess,
        identity: str = PLATFORM_IDENTITY,
        *,
        wait_seconds: float | None = None,
    ) -> list[SlimEvent]:
        """The cluster's Events, newest first, without waiting for its nodes and pods."""
        cache = await self._cache((str(cluster_id), identity), access)
        informer = cache.events_informer()
        store = await informer.wait_synced(wait_seconds or self.settings.sync_timeout_seconds)
        return store.newest_first()

    async def _cache(self, key: tuple[str, str], access: ClusterAccess) -> ClusterCache:
        if self._closed:
            raise RuntimeError("ObserveHub is closed")
        cache = self._caches.get(key)
        if cache is not None and cache.fingerprint != access.fingerprint:
            # New credentials (or server): what the old ones saw is not this identity's view.
            del self._caches[key]
            await cache.stop()
            cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = ClusterCache(key, access, self.manager, self.settings)
            cache.start()
            self._ensure_reaper()
        cache.touch()
        return cache

    def cached(self, cluster_id: object, identity: str = PLATFORM_IDENTITY) -> ClusterCache | None:
        return self._caches.get((str(cluster_id), identity))

    def __len__(self) -> int:
        return len(self._caches)

    async def invalidate(self, cluster_id: object) -> None:
        """Stop and forget every cache of the cluster (deleted, or credentials changed)."""
        cid = str(cluster_id)
        for key in [k for k in self._caches if k[0] == cid]:
            await self._caches.pop(key).stop()

    async def close(self) -> None:
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        caches, self._caches = list(self._caches.values()), {}
        for cache in caches:
            await cache.stop()

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="observe:reaper")

    async def _reap(self) -> None:
        """Stops caches nobody viewed for `idle_seconds`: their watches cost the cluster
        and this process memory for nothing."""
        while self._caches:
            idle = self.settings.idle_seconds
            await asyncio.sleep(min(max(idle / 4, 0.1), 30.0))
            now = time.monotonic()
            for key, cache in list(self._caches.items()):
                if now - cache.last_viewed > idle and self._caches.get(key) is cache:
                    del self._caches[key]
                    await cache.stop()
