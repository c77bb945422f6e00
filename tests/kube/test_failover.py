"""Failover between the API servers of one cluster (a highly available control plane):
real HTTPS servers on loopback sharing one CA, one of them stopped, silent or lying. A
request moves on only when no byte of it was sent (refused, connect timed out), then
sticks to the server that answered; anything else is reported, naming the servers tried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web

from taichu.errors import Invalid
from taichu.kube import ClusterUnreachable, KubeClient, access_from_token
from taichu.kube.access import MAX_FALLBACK_SERVERS, ClusterAccess
from taichu.kube.errors import TLSVerificationFailed
from tests.support.hostile_cluster import TOKEN, HostileCluster

REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@pytest.fixture
def pair() -> Iterator[tuple[HostileCluster, HostileCluster]]:
    """Two API servers of one cluster (one CA); the first is stopped: its port refuses."""
    first = HostileCluster().start()
    second = HostileCluster(ca=first.ca).start()
    first.stop()
    yield first, second
    second.stop()


def access(primary: HostileCluster, *fallbacks: str) -> ClusterAccess:
    return access_from_token(primary.server, TOKEN, primary.ca.cert_pem).with_fallbacks(
        list(fallbacks)
    )


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, list[int]]]:
    """Accepts connections and never says a word; counts the connections it accepted."""
    accepted: list[int] = []
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], accepted
    for writer in held:
        writer.close()
    server.close()


async def test_a_refused_server_fails_over_for_any_method_and_sticks(
    pair: tuple[HostileCluster, HostileCluster],
) -> None:
    first, second = pair
    client = KubeClient(access(first, second.server), connect_timeout=5)
    try:
        started = time.monotonic()
        assert await client.git_version() == "v1.31.0"
        assert time.monotonic() - started < 2  # refused: no waiting for a timeout
        assert client.server == second.server
        # A POST too (nothing was sent to the refusing server), delivered exactly once.
        allowed = await client.self_subject_access_review("list", "nodes")
        assert allowed is True and second.hits[REVIEWS] == 1
        nodes, _ = await client.list_all("/api/v1/nodes")
        assert [n["metadata"]["name"] for n in nodes] == ["hostile-1"]
    finally:
        await client.close()


async def test_a_silent_server_costs_one_connect_timeout_then_is_left_alone(
    silent_server: tuple[int, list[int]],
) -> None:
    port, accepted = silent_server
    with HostileCluster() as good:
        primary = access_from_token(f"https://127.0.0.1:{port}", TOKEN, good.ca.cert_pem)
        client = KubeClient(
            primary.with_fallbacks([good.server]), connect_timeout=0.5, request_timeout=10
        )
        try:
            started = time.monotonic()
            assert await client.readyz() == (True, "ok")
            assert 0.4 < time.monotonic() - started < client.request_timeout
            assert accepted == [1] and client.server == good.server
            started = time.monotonic()
            for _ in range(3):
                await client.version()
            assert time.monotonic() - started < 0.4 * 3  # straight to the one that answered
            assert accepted == [1], "went back to the silent server"
            assert good.hits["/version"] == 3
        finally:
            await client.close()


async def test_no_server_answering_names_every_server_tried(
    pair: tuple[HostileCluster, HostileCluster],
) -> None:
    first, second = pair
    second.stop()
    client = KubeClient(access(first, second.server))
    try:
        with pytest.raises(ClusterUnreachable) as info:
            await client.version()
    finally:
        await client.close()
    assert info.value.status == 503
    assert info.value.message == (
        f"no API server of the cluster answered (2 tried): cannot reach {first.server}: "
        f"connection refused; cannot reach {second.server}: connection refused"
    )


async def test_an_untrusted_certificate_is_reported_not_routed_around() -> None:
    with HostileCluster() as impostor, HostileCluster() as real:
        # The impostor's certificate is from another CA than the cluster's.
        primary = access_from_token(impostor.server, TOKEN, real.ca.cert_pem)
        client = KubeClient(primary.with_fallbacks([real.server]))
        try:
            with pytest.raises(TLSVerificationFailed) as info:
                await client.version()
        finally:
            await client.close()
        assert impostor.server in info.value.message, info.value.message
        assert sum(real.hits.values()) == 0


async def test_a_request_lost_after_it_was_sent_is_not_sent_again() -> None:
    """The first server took the POST and dropped the connection: it may have acted on it,
    so the request is not repeated elsewhere."""

    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    with HostileCluster() as first, HostileCluster(ca=first.ca) as second:
        first.answer(REVIEWS, drop)
        client = KubeClient(access(first, second.server))
        try:
            with pytest.raises(ClusterUnreachable) as info:
                await client.self_subject_access_review("list", "nodes")
            assert info.value.message == f"connection to {first.server} was lost mid-request"
            assert first.hits[REVIEWS] == 1 and second.hits[REVIEWS] == 0
            assert client.server == first.server
        finally:
            await client.close()


def test_fallbacks_are_normalized_bounded_and_part_of_the_identity() -> None:
    base = access_from_token("https://10.0.0.1:6443", "secret-token")
    both = base.with_fallbacks(["10.0.0.2:6443", "https://10.0.0.1:6443", "https://10.0.0.2:6443/"])
    assert both.fallback_servers == ("https://10.0.0.2:6443",)
    assert both.servers == ("https://10.0.0.1:6443", "https://10.0.0.2:6443")
    # Another set of servers is another connection: a pooled client must not be reused.
    assert both.fingerprint != base.fingerprint
    assert both.with_fallbacks(["10.0.0.3:6443"]).fingerprint != both.fingerprint
    assert both.with_token("other").fallback_servers == both.fallback_servers
    text = repr(both)
    assert "https://10.0.0.2:6443" in text and "secret-token" not in text
    with pytest.raises(Invalid, match="fallback server 1 must use https"):
        base.with_fallbacks(["http://10.0.0.2:6443"])
    with pytest.raises(Invalid, match=f"more than {MAX_FALLBACK_SERVERS}"):
        base.with_fallbacks([f"10.0.1.{i}:6443" for i in range(MAX_FALLBACK_SERVERS + 1)])
