"""The CONNECT proxy one kubectl run goes through (its kubeconfig's `proxy-url`).

kubectl resolves names and follows redirects itself, past the checks the platform's own
client makes at every connect (`taichu.kube.targets.guarded_socket`). Through this proxy
each tunnel it opens — the API server, a fallback, any redirect's target — is resolved
here and held to the same rules: nothing for anyone on link-local or metadata addresses,
and the registering user's rules (no loopback) for a cluster whose address a user gave.
The name and SNI stay kubectl's, so TLS and name-routed front ends work as before.

It listens on loopback for the length of one run and answers only the run's own
credentials (random, in the run's kubeconfig): no other local process can use it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from taichu.kube.targets import TargetPolicy, open_checked

log = logging.getLogger("taichu.commands")

_MAX_REQUEST_HEAD = 8192  # a CONNECT line and a few headers
_HEAD_SECONDS = 10.0
_CHUNK = 65536
_USER = "taichu"


def _answer(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()


def _target(line: str) -> tuple[str, int] | None:
    """(host, port) of `CONNECT host:port HTTP/1.1`, else None."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
        return None
    host, sep, port = parts[1].rpartition(":")
    if not sep or not (port.isascii() and port.isdecimal() and len(port) <= 5):
        return None
    if not 0 < int(port) < 65536:
        return None
    host = host.removeprefix("[").removesuffix("]")
    return (host, int(port)) if host else None


class RunProxy:
    """One run's proxy; `url` (with its credentials) goes in the kubeconfig."""

    def __init__(self, policy: TargetPolicy | None, connect_seconds: float) -> None:
        self.policy = policy
        self.connect_seconds = connect_seconds
        self._password = secrets.token_urlsafe(24)
        self._expected = b"Basic " + base64.b64encode(f"{_USER}:{self._password}".encode())
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.refusals: list[str] = []  # why tunnels were refused, for the server log

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://{_USER}:{self._password}@127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, limit=_MAX_REQUEST_HEAD
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream = await self._open(reader, writer)
            if upstream is None or upstream_reader is None:
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        except asyncio.LimitOverrunError:
            writer.write(_answer("431 Request Header Fields Too Large"))
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # The run ended with the tunnel open. Returning (not raising) keeps asyncio's
            # stream callback from logging the cancellation as an error.
            pass
        finally:
            self._tasks.discard(task)
            for w in (writer, upstream):
                if w is not None:
                    w.close()

    async def _open(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader | None, asyncio.StreamWriter | None]:
        """Read the CONNECT request and open its tunnel, or answer why not."""
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_SECONDS)
        lines = head.decode("latin-1").split("\r\n")
        target = _target(lines[0])
        if target is None:
            writer.write(_answer("405 Method Not Allowed"))
            return None, None
        authorized = any(
            name.strip().lower() == "proxy-authorization"
            and secrets.compare_digest(value.strip().encode("latin-1"), self._expected)
            for name, _, value in (line.partition(":") for line in lines[1:])
        )
        if not authorized:
            writer.write(_answer("407 Proxy Authentication Required"))
            return None, None
        host, port = target
        try:
            return await open_checked(host, port, self.policy, self.connect_seconds)
        except OSError as e:
            self.refusals.append(f"{host}:{port}: {e.strerror or e}")
            log.info("kubectl run: no tunnel to %s:%s: %s", host, port, e.strerror or e)
            # kubectl prints the status line: the reason, on one line, is what the user sees.
            why = " ".join(str(e.strerror or e).split())[:200]
            status = "403 Forbidden" if e.errno == errno.EACCES else "502 Bad Gateway"
            writer.write(_answer(f"{status}: {why}"))
            return None, None


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """One direction of a tunnel, until its end closes or resets (then the other ends
    when its own side closes, or when the run ends)."""
    try:
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            if sink.can_write_eof():
                sink.write_eof()


@asynccontextmanager
async def run_proxy(policy: TargetPolicy | None, connect_seconds: float) -> AsyncIterator[RunProxy]:
    """A proxy for one kubectl run, closed (tunnels and all) when the block ends."""
    proxy = RunProxy(policy, connect_seconds)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
