"""Outages of a real control plane: API server stopped, frozen, restarted; etcd gone.

These break their cluster, so the module has its own (no nodes), not the shared one: one
per xdist worker that runs any of them. Each test sets up the state it needs and puts the
API server back as it found it, so they may be split across workers; the etcd one runs
last in file order (which a worker keeps) and leaves etcd stopped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from taichu.kube import ClusterUnreachable, KubeClient, ResourceExpired, parse_kubeconfig
from taichu.lab.binaries import LabBinaries
from taichu.lab.cluster import LabCluster
from tests.support import waiting

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def fragile(lab_binaries: LabBinaries) -> Iterator[LabCluster]:
    cluster = LabCluster("fragile", binaries=lab_binaries).start()
    yield cluster
    cluster.stop()


CONNECT_TIMEOUT, REQUEST_TIMEOUT = 1, 3


@pytest.fixture
async def kube(fragile: LabCluster) -> AsyncIterator[KubeClient]:
    client = KubeClient(
        parse_kubeconfig(fragile.kubeconfig),
        connect_timeout=CONNECT_TIMEOUT,
        request_timeout=REQUEST_TIMEOUT,
    )
    yield client
    await client.close()


async def _wait_ready(kube: KubeClient, timeout: float = 60) -> None:
    """Until the API server answers /readyz with ok (after a restart or a freeze)."""
    deadline = time.monotonic() + timeout
    answer: object = None
    while time.monotonic() < deadline:
        try:
            answer = await kube.readyz()
        except ClusterUnreachable as e:
            answer = e
        if answer == (True, "ok"):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"API server not ready within {timeout}s: {answer}")


async def test_stopped_api_server_is_unavailable_fast(
    kube: KubeClient, fragile: LabCluster
) -> None:
    await kube.version()  # a pooled keep-alive connection exists now
    fragile.stop_apiserver()
    try:
        for call in (kube.version, kube.readyz, kube.version):
            started = time.monotonic()
            with pytest.raises(ClusterUnreachable) as info:
                await call()
            elapsed = time.monotonic() - started
            # Refused (the message says so): no waiting for the request timeout.
            assert elapsed < 2 < REQUEST_TIMEOUT, (call, elapsed)
            assert info.value.message == f"cannot reach {kube.server}: connection refused"
    finally:
        await asyncio.to_thread(fragile.start_apiserver)
    assert (await kube.readyz())[0]


async def test_watch_from_before_a_restart_is_expired(
    kube: KubeClient, fragile: LabCluster
) -> None:
    # A restart rebuilds the watch cache from the current revision (far past 1 once the
    # API server has bootstrapped); version 1 is older than anything it holds, and the
    # server answers 410 Gone.
    await asyncio.to_thread(fragile.stop_apiserver)
    await asyncio.to_thread(fragile.start_apiserver)
    with pytest.raises(ResourceExpired, match="too old resource version"):
        async with kube.watch("/api/v1/configmaps", "1", timeout_seconds=5) as events:
            async for _ in events:
                pass
    # From a current version: the stream stays open, quiet, until its timeout. (A name
    # nobody writes: the controller manager may write ConfigMaps at any time.)
    quiet = {"fieldSelector": "metadata.name=nobody-writes-this"}
    _, version = await kube.list_all("/api/v1/configmaps", quiet)
    async with kube.watch("/api/v1/configmaps", version, timeout_seconds=1, params=quiet) as events:
        assert [e async for e in events] == []


async def test_frozen_api_server_is_bounded_by_timeouts(
    kube: KubeClient, fragile: LabCluster
) -> None:
    await kube.version()
    pid = fragile.procs["kube-apiserver"].pid
    assert pid
    os.killpg(pid, signal.SIGSTOP)  # accepts TCP (kernel backlog), never answers
    try:
        waiting.wait_process_stopped(pid)
        started = time.monotonic()
        with pytest.raises(ClusterUnreachable, match=r"no answer .* within 3s"):
            await kube.version()  # on the pooled connection: the request timeout
        assert time.monotonic() - started < REQUEST_TIMEOUT + 3
        other = KubeClient(kube.access, connect_timeout=CONNECT_TIMEOUT, request_timeout=30)
        started = time.monotonic()
        with pytest.raises(ClusterUnreachable, match="connect timed out"):
            await other.version()  # new connection: the TLS handshake never completes
        assert time.monotonic() - started < CONNECT_TIMEOUT + 3  # not the 30 s request one
        await other.close()
    finally:
        os.killpg(pid, signal.SIGCONT)
    await _wait_ready(kube)


async def test_readyz_reports_a_failing_etcd(kube: KubeClient, fragile: LabCluster) -> None:
    await _wait_ready(kube)
    fragile.procs["etcd"].stop()
    # The API server's own etcd check may take a few seconds to give up: default timeouts.
    patient = KubeClient(kube.access)
    detail = ""
    for _ in range(60):
        ok, detail = await patient.readyz()
        if not ok:
            break
        await asyncio.sleep(0.5)
    await patient.close()
    assert not ok
    # The failing checks by name only: the rest of each line is the server's free text.
    assert "etcd" in detail.split("; "), detail
    assert "[-]" not in detail and "failed" not in detail, detail
