"""The watch-fed cache against real API servers: it follows changes through watches
(no relist), relists on 410 Gone, stops when idle or invalidated, and answers 503 fast
(or within its bound) when a cluster cannot be read."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from taichu.config import ObserveSettings
from taichu.errors import Unavailable
from taichu.kube import ConnectionManager, parse_kubeconfig
from taichu.kube.informer import Informer
from taichu.lab.cluster import LabCluster
from taichu.observe.cache import ObserveHub
from taichu.observe.stores import NodeStore
from tests.clusters.helpers import wait_for
from tests.observe.helpers import app_ctx, get_data, registered

pytestmark = pytest.mark.lab


async def test_nodes_follow_the_watch_without_relisting(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    path = f"/api/v1/clusters/{cid}/nodes"

    async def names() -> set[str]:
        data = await get_data(client, admin_headers, path, limit=100)
        return {n["name"] for n in data["nodes"]}

    initial = await names()
    cache = app_ctx(client).observe.cached(cid)
    assert cache is not None and cache.nodes.lists == 1 and cache.pods.lists == 1
    prefix = f"obs-{uuid.uuid4().hex[:6]}"
    added = lab_cluster.create_nodes(2, prefix=prefix, wait=False)
    try:
        # Through the watch: long before it would be resumed (watch_timeout_seconds, 300 s),
        # and without a list (checked below).
        await wait_for(names, lambda n: n == initial | set(added), timeout=15, interval=0.1)
        data = await get_data(client, admin_headers, path, limit=100)
        assert data["total"] == len(initial) + 2
        assert data["summary"]["worker_count"] == len(initial) - 1 + 2
    finally:
        lab_cluster.delete_nodes(added)
    await wait_for(names, lambda n: n == initial, timeout=15, interval=0.1)
    assert cache.nodes.lists == 1 and cache.nodes.events >= 4  # 2 added, 2 deleted, no list


async def test_relists_on_gone(lab_cluster_factory: Any) -> None:
    """A watch from a resourceVersion the API server no longer has (here: one from before
    it restarted, which empties its watch cache) is answered 410 Gone; the informer relists
    and carries on."""
    lab: LabCluster = lab_cluster_factory(workers=1)
    lab.stop_apiserver()
    lab.start_apiserver()
    manager = ConnectionManager()
    access = parse_kubeconfig(lab.kubeconfig)
    stale = ["2"]

    class StaleStart(Informer[NodeStore]):
        async def _list(self) -> str:
            version = await super()._list()
            return stale.pop() if stale else version  # the first watch starts too far back

    informer = StaleStart(
        "nodes",
        "/api/v1/nodes",
        NodeStore,
        lambda: manager.client("gone", access),
        ObserveSettings(),
    )
    informer.start()
    try:
        await wait_for(_value(lambda: informer.lists), lambda n: n >= 2, timeout=10)
        store = await informer.wait_synced(5)
        assert len(store) == 2 and informer.state == "synced"
        lab.create_nodes(1, prefix="after-gone", wait=False)
        await wait_for(_value(lambda: len(informer.store)), lambda n: n == 3, timeout=15)
        assert informer.lists == 2  # the new node came through the watch
    finally:
        await informer.stop()
        await manager.close_all()


def _value(get: object) -> object:
    async def fetch() -> object:
        return get()  # type: ignore[operator]

    return fetch


# Far above the bounds the tests assert, so that meeting a bound proves it was not one of
# these that ended the wait.
CONNECT_TIMEOUT, REQUEST_TIMEOUT, SYNC_TIMEOUT = 10.0, 20.0, 10.0


@pytest.fixture
async def hub() -> AsyncIterator[ObserveHub]:
    manager = ConnectionManager(connect_timeout=CONNECT_TIMEOUT, request_timeout=REQUEST_TIMEOUT)
    hub = ObserveHub(manager, ObserveSettings(idle_seconds=0.5, sync_timeout_seconds=SYNC_TIMEOUT))
    yield hub
    await hub.close()
    await manager.close_all()


async def test_idle_stop_invalidate_and_new_credentials(
    hub: ObserveHub, lab_cluster: LabCluster
) -> None:
    access = parse_kubeconfig(lab_cluster.kubeconfig)
    # Asked before the view: a blocking call after it could outlast the 0.5 s idle window
    # on a loaded machine, and the cache would be gone before it is looked at.
    expected_nodes = {n["metadata"]["name"] for n in lab_cluster.nodes()}
    view = await hub.view("c1", access)
    first = hub.cached("c1")
    assert first is not None and len(hub) == 1
    assert {n.name for n in view.nodes()} == expected_nodes
    bound = [p for p in view.pods() if p.node_name and not p.terminated]
    assert sum(view.pod_counts().values()) == len(bound)
    assert len(view.pods()) == sum(len(view.pods(ns)) for ns in view.namespaces())
    # Idle: forgotten after idle_seconds without a view, then stopped (informer by
    # informer: the reaper awaits each).
    await wait_for(
        _value(lambda: (len(hub), first.nodes._task, first.pods._task)),
        lambda state: state == (0, None, None),
        timeout=15,
        interval=0.1,
    )
    await hub.view("c1", access)
    again = hub.cached("c1")
    assert again is not None and again is not first and again.nodes.lists == 1

    # Other credentials for the same cluster: a new cache, the old one stopped.
    token = lab_cluster.mint_token("obs-cache", "reader", role="cluster-admin", cluster_wide=True)
    other = access.with_token(token)
    await hub.view("c1", other)
    assert hub.cached("c1") is not again and again.nodes._task is None

    await hub.invalidate("c1")
    assert hub.cached("c1") is None and len(hub) == 0


async def test_unreachable_and_hung_clusters_answer_503_in_bounded_time(
    hub: ObserveHub, lab_cluster: LabCluster
) -> None:
    kubeconfig = lab_cluster.kubeconfig
    refused = parse_kubeconfig(kubeconfig.replace(lab_cluster.server, "https://127.0.0.1:9"))
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        await hub.view("down", refused)
    assert time.monotonic() - started < 3 < SYNC_TIMEOUT  # refused: no waiting for a timeout
    assert "cannot read the cluster's nodes" in info.value.message
    assert "connection refused" in info.value.message
    # A second look answers from the failed state at once.
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await hub.view("down", refused)
    assert time.monotonic() - started < 2 < SYNC_TIMEOUT

    # A server that accepts connections and never answers: bounded by the sync timeout.
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        hung = parse_kubeconfig(kubeconfig.replace(lab_cluster.server, f"https://127.0.0.1:{port}"))
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            await hub.view("hung", hung, wait_seconds=1.0)
        # Bounded by wait_seconds, not by the connect, request or sync timeouts.
        assert 0.9 < time.monotonic() - started < 1.0 + 2.5 < CONNECT_TIMEOUT
        assert "still being listed" in info.value.message
    finally:
        release.set()
        server.close()
        await hub.invalidate("hung")
