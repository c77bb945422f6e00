"""Servers that are not there, do not answer, or do not speak TLS: real sockets on loopback,
no cluster needed. A hung cluster must never hang the caller beyond the timeouts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from taichu.errors import Unavailable
from taichu.kube import ClusterUnreachable, KubeClient, access_from_token


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word (a frozen API server)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()


@pytest.fixture
async def plain_http_server() -> AsyncIterator[int]:
    """Answers in plain HTTP, as a misconfigured port or a proxy might."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_closed_port_is_unavailable_at_once() -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    client = KubeClient(access_from_token(server, "t"), connect_timeout=5)
    started = time.monotonic()
    with pytest.raises(ClusterUnreachable) as info:
        await client.version()
    elapsed = time.monotonic() - started
    await client.close()
    assert info.value.status == 503 and isinstance(info.value, Unavailable)
    assert info.value.message == f"cannot reach {server}: connection refused"
    assert elapsed < 2 < client.connect_timeout, elapsed  # refused: no waiting for a timeout
    assert isinstance(info.value.__cause__, Exception)  # chained, for the logs


async def test_silent_server_is_bounded_by_the_connect_timeout(silent_server: int) -> None:
    server = f"https://127.0.0.1:{silent_server}"
    client = KubeClient(access_from_token(server, "t"), connect_timeout=0.5, request_timeout=10)
    started = time.monotonic()
    with pytest.raises(ClusterUnreachable, match="connect timed out"):
        await client.readyz()
    elapsed = time.monotonic() - started
    await client.close()
    assert 0.4 < elapsed < client.connect_timeout + 2.5 < client.request_timeout, elapsed


async def test_watch_on_silent_server_is_bounded(silent_server: int) -> None:
    client = KubeClient(access_from_token(f"127.0.0.1:{silent_server}", "t"), connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ClusterUnreachable):
        async with client.watch("/api/v1/pods", "1") as events:
            async for _ in events:
                pass
    await client.close()
    # The connect timeout, not the watch's own (300 s) nor the request timeout.
    assert time.monotonic() - started < client.connect_timeout + 2.5 < client.request_timeout


async def test_plain_http_port_is_a_tls_handshake_error(plain_http_server: int) -> None:
    server = f"https://127.0.0.1:{plain_http_server}"
    client = KubeClient(access_from_token(server, "t"))
    with pytest.raises(ClusterUnreachable, match=f"TLS handshake with {server} failed"):
        await client.version()
    await client.close()


async def test_closed_client_refuses_use() -> None:
    client = KubeClient(access_from_token("https://127.0.0.1:1", "t"))
    await client.close()
    with pytest.raises(RuntimeError, match="closed"):
        await client.version()
