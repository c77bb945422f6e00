"""A slow shard never overwrites a newer result: a shard held up by a frozen API server
finishes after a later probe of its other cluster, and that later result stays."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from taichu.clusters import health
from taichu.clusters.models import Cluster
from taichu.clusters.service import NewCluster, insert_cluster, validated_access
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.lab.cluster import LabCluster
from tests.support import waiting

pytestmark = pytest.mark.lab
CONCURRENCY = 8


@pytest.fixture
async def app(make_settings: Any, clean_db: None) -> AsyncIterator[AppContext]:
    # Long timeouts: the frozen cluster holds its shard until the test thaws it.
    settings = make_settings(
        cluster_probe_timeout=60.0,
        cluster_probe_concurrency=CONCURRENCY,
        kube={"request_timeout_seconds": 60.0},
    )
    ctx = AppContext.create(settings)
    yield ctx
    await ctx.close()


async def _add(app: AppContext, name: str, kubeconfig: str) -> str:
    new = NewCluster(name=name, description="", kubeconfig=kubeconfig, labels={})
    access = await validated_access(app, new, None)
    async with transaction(app.sessions) as session:
        cluster = await insert_cluster(
            session, app.box, new, access, source="manual", status="unknown", owner=None
        )
        return cluster.id


async def _cluster(app: AppContext, cluster_id: str) -> Cluster:
    async with app.read_sessions() as session:
        cluster = await session.get(Cluster, cluster_id)
        assert cluster is not None
        return cluster


async def test_a_slow_shard_does_not_overwrite_a_newer_probe(
    app: AppContext, lab_cluster: LabCluster, lab_cluster_factory: Any
) -> None:
    fast: LabCluster = lab_cluster_factory("fast", workers=1)
    slow_id = await _add(app, "slow", lab_cluster.kubeconfig)
    fast_id = await _add(app, "fast", fast.kubeconfig)
    assert await health.probe_and_record(app, [slow_id, fast_id]) == {"probed": 2, "stale": 0}
    assert (await _cluster(app, fast_id)).status == "healthy"

    pid = lab_cluster.procs["kube-apiserver"].pid
    assert pid
    os.killpg(pid, signal.SIGSTOP)  # accepts TCP, never answers: the shard waits for it
    try:
        waiting.wait_process_stopped(pid)
        # The slow shard: probes both; the fast cluster answers at once (healthy), the
        # frozen one holds the shard's write back.
        slow_shard = asyncio.create_task(health.probe_and_record(app, [slow_id, fast_id]))
        # Until only the frozen cluster's probe holds the process's probe gate.
        await waiting.wait_for(
            lambda: app.probe_gate._value == CONCURRENCY - 1, timeout=30, interval=0.02
        )
        assert not slow_shard.done()
        # Then the fast cluster goes down and a later probe records that.
        await asyncio.to_thread(fast.stop_apiserver)
        assert await health.probe_and_record(app, [fast_id]) == {"probed": 1, "stale": 0}
        newer = await _cluster(app, fast_id)
        assert newer.status in ("error", "disconnected"), newer.status
    finally:
        os.killpg(pid, signal.SIGCONT)
    # The slow shard now finishes: its fast-cluster result is older than the recorded one.
    assert await asyncio.wait_for(slow_shard, 60) == {"probed": 2, "stale": 1}
    after = await _cluster(app, fast_id)
    assert (after.status, after.last_probe_error) == (newer.status, newer.last_probe_error)
    assert after.last_probe_started_at == newer.last_probe_started_at
    assert (await _cluster(app, slow_id)).status == "healthy"  # its own result is new
