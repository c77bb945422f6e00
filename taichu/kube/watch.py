"""One watch request as an async iterator of events."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

import aiohttp

from taichu.kube.budget import Hold
from taichu.kube.errors import (
    TRANSPORT_ERRORS,
    AnswerTooLarge,
    MalformedAnswer,
    status_error,
    transport_error,
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED or DELETED
    object: Obj

    @property
    def resource_version(self) -> str | None:
        return (self.object.get("metadata") or {}).get("resourceVersion")


class Watch:
    """Events of one watch request, until the server ends it (`timeout_seconds`).

    Bookmarks are not yielded; they, like every event, advance `resource_version`, which
    is where the next watch should resume. An expired resourceVersion raises
    `ResourceExpired`: relist, then watch again from the list's resourceVersion.

    Use `async with client.watch(...) as events: async for event in events:` so that
    leaving the loop early closes the connection at once.
    """

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[aiohttp.ClientResponse]],
        server: str,
        timeout: float,
        resource_version: str | None,
        max_event_bytes: int = 16 * 2**20,
        held: Hold | None = None,
    ) -> None:
        self._open_stream = open_stream
        self._server = server
        self._timeout = timeout
        self._response: aiohttp.ClientResponse | None = None
        self._buffer = bytearray()
        self._done = False
        self._max_event_bytes = max_event_bytes
        self._held = held  # the buffer's share of the read budget
        self.resource_version = resource_version

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def aclose(self) -> None:
        self._done = True
        self._buffer = bytearray()
        if self._held is not None:
            self._held.release()
        if self._response is not None:
            # Mid-stream the connection cannot be reused; close drops it from the pool.
            self._response.close()
            self._response = None

    async def __anext__(self) -> WatchEvent:
        while True:
            line = await self._next_line()
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if not isinstance(kind, str) or not isinstance(obj, dict):
                    raise TypeError
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if rv is not None and not isinstance(rv, str):
                    raise TypeError
            except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as e:
                await self.aclose()
                # Not quoted: a watch line is a whole object (a Secret's data, env values).
                raise MalformedAnswer(
                    f"malformed watch event from {self._server} ({len(line)} bytes)"
                ) from e
            if kind == "ERROR":
                await self.aclose()
                code = obj.get("code")
                raise status_error(
                    code if isinstance(code, int) and 400 <= code < 600 else 500,
                    json.dumps(obj).encode(),
                    "WATCH",
                    self._server,
                )
            if rv:
                self.resource_version = rv
            if kind != "BOOKMARK":
                return WatchEvent(kind, obj)

    async def _next_line(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            if self._response is None:
                self._response = await self._open_stream()
            while (end := self._buffer.find(b"\n")) < 0:
                chunk = await self._response.content.readany()
                if not chunk:  # the server ended the watch (its timeout)
                    await self.aclose()
                    raise StopAsyncIteration
                if len(self._buffer) + len(chunk) > self._max_event_bytes:
                    raise AnswerTooLarge(
                        f"a watch event from {self._server} is larger than "
                        f"{self._max_event_bytes} bytes (setting kube.watch_event_max_bytes)"
                    )
                if self._held is not None:
                    await self._held.cover(len(self._buffer) + len(chunk))
                self._buffer += chunk
        except TRANSPORT_ERRORS as e:
            await self.aclose()
            raise transport_error(e, self._server, self._timeout) from e
        except BaseException:
            await self.aclose()
            raise
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        if self._held is not None:
            self._held.trim(len(self._buffer))  # the event is the caller's now
        return line
