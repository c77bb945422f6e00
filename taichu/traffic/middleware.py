"""The sampling middleware (both API families, every HTTP request) and the flush loop.

Installed outside the blacklist's enforcement so it sees refused requests (counted as
`blocked`, never as evidence). Per request it only reads the scope and adds to in-memory
counters; once per window each replica writes what it counted in one batched upsert.
The loop starts when the app's startup completes and writes the last counts at shutdown
(a killed process loses at most its current window)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taichu.api.client import client_address
from taichu.db.session import transaction
from taichu.traffic import store
from taichu.traffic.sampler import Request, Sampler
from taichu.traffic.settings import AnomalySettings

log = logging.getLogger("taichu.traffic")

# Set by the blacklist's enforcement, the login route and the auth dependency.
BLOCKED_KEY = "taichu.blocked"
MONITORED_KEY = "taichu.monitored"
LOGIN_FAILURE_KEY = "taichu.login_failure"
USER_KEY = "taichu.user"
# Windows kept in memory while the database cannot be written, before the oldest go.
KEEP_UNWRITTEN = 10


def replica_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class SamplingMiddleware:
    def __init__(self, app: ASGIApp, settings: AnomalySettings) -> None:
        self.app = app
        self.settings = settings
        self.enabled = settings.enabled
        self.sampler = Sampler(
            settings.window_seconds, settings.max_addresses, settings.max_distinct
        )
        self.replica = replica_id()
        self._flusher: asyncio.Task[None] | None = None
        self._ctx: Any = None
        self._metrics: tuple[Counter, Counter, Counter, Counter] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and self.enabled:
            await self._sample(scope, receive, send)
        elif kind == "lifespan" and self.enabled:
            await self.app(scope, self._on_shutdown(scope, receive), self._on_startup(scope, send))
        else:
            await self.app(scope, receive, send)

    async def _sample(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        sizes = [0, 0, 500]  # bytes in, bytes out, status (500 if the app raised)

        async def counted_receive() -> Message:
            message = await receive()
            body = message.get("body")
            if body:
                sizes[0] += len(body)
            return message

        async def counted_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                sizes[1] += len(message.get("body", b""))
            elif kind == "http.response.start":
                sizes[2] = message["status"]
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            self.sampler.record(
                Request(
                    ip=client_address(scope),
                    status=sizes[2],
                    path=scope.get("path", ""),
                    seconds=time.perf_counter() - started,
                    bytes_in=sizes[0],
                    bytes_out=sizes[1],
                    blocked=bool(scope.get(BLOCKED_KEY)),
                    monitored=bool(scope.get(MONITORED_KEY)),
                    login_failure=scope.get(LOGIN_FAILURE_KEY),
                    user=scope.get(USER_KEY),
                )
            )

    # -- the flush loop, tied to the app's lifespan ------------------------------------------

    def _on_startup(self, scope: Scope, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._ctx = getattr(scope["app"].state, "ctx", None)
                if self._ctx is not None:
                    self._flusher = asyncio.create_task(self._loop(), name="traffic-flush")
            await send(message)

        return wrapped

    def _on_shutdown(self, scope: Scope, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self._flusher is not None:
                self._flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._flusher
                self._flusher = None
                await self.flush(self.sampler.take_all())  # before the app closes its db
            return message

        return wrapped

    async def _loop(self) -> None:
        window = self.settings.window_seconds
        grace = min(1.0, window * 0.05)
        while True:
            now = time.time()
            await asyncio.sleep((now // window + 1) * window - now + grace)
            await self.flush(self.sampler.take_closed())

    async def flush(self, windows: dict[int, dict[str, Any]]) -> store.FlushStats | None:
        """Write the windows in one transaction, one statement; on failure keep them for
        the next flush (bounded)."""
        if not windows or self._ctx is None:
            return None
        rows = store.rows_of(windows, self.settings.window_seconds, self.replica)
        started = time.perf_counter()
        try:
            async with transaction(self._ctx.sessions) as session:
                stats = await store.write_rows(session, rows)
        except Exception:
            dropped = self.sampler.put_back(windows, KEEP_UNWRITTEN)
            log.exception(
                "could not write %d traffic samples (dropped %d windows)", len(rows), dropped
            )
            return None
        elapsed = time.perf_counter() - started
        self._count(stats, elapsed)
        log.debug(
            "traffic: %d samples in %d statement(s), %.1f ms",
            stats.rows,
            stats.statements,
            elapsed * 1000,
        )
        return stats

    def _count(self, stats: store.FlushStats, seconds: float) -> None:
        metrics = getattr(self._ctx, "metrics", None)
        if metrics is None:
            return
        if self._metrics is None:
            registry = metrics.registry
            self._metrics = (
                Counter(
                    "taichu_traffic_flushes", "Sample writes (transactions).", registry=registry
                ),
                Counter(
                    "taichu_traffic_flush_statements",
                    "Statements of those writes.",
                    registry=registry,
                ),
                Counter(
                    "taichu_traffic_samples_written", "Sample rows written.", registry=registry
                ),
                Counter(
                    "taichu_traffic_flush_seconds", "Time spent in those writes.", registry=registry
                ),
            )
        flushes, statements, samples, spent = self._metrics
        spent.inc(seconds)
        flushes.inc()
        statements.inc(stats.statements)
        samples.inc(stats.rows)
