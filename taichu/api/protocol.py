"""uvicorn's HTTP/1.1 protocol with the time and count limits it lacks.

uvicorn closes idle keep-alive connections, but a connection that has not finished its
request line and headers, or trickles its body, is held forever, and it accepts any
number of connections (`limit_concurrency` answers 503 only once a request's headers are
complete, so slow sockets are never refused). Here:
- headers must arrive within `header_timeout_seconds` of the connection (or of the first
  byte of a later request on it): else 408 and close;
- a body must keep flowing (`body_idle_timeout_seconds`) and be complete within
  `body_timeout_seconds`: else the connection is closed (the app sees a disconnect);
- beyond `max_connections` open connections a new one gets 503 and is closed at once;
- the request line and headers together may be at most `max_header_bytes` (uvicorn's
  httptools protocol keeps whatever arrives: 1 GB of headers in 10 s was held in memory):
  else 431 and close.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from taichu.config import HttpSettings

# While reading is paused, the app (not the client) is behind: look again shortly.
_RECHECK_SECONDS = 1.0


def _raw_response(status: int, reason: str, message: str) -> bytes:
    # Sent before any route is known: the /api/v1 envelope, the default family.
    body = json.dumps({"code": status, "message": message, "data": None}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpSettings] = HttpSettings()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._body_deadline: float | None = None
        self._header_bytes = 0
        self._refused = False  # headers too large: answered and closing, parse nothing more

    @classmethod
    def with_limits(cls, limits: HttpSettings) -> type[GuardedHttpProtocol]:
        return type("GuardedHttpProtocol", (cls,), {"limits": limits})

    # -- connection ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.logger.warning("refusing connection: %d open", len(self.connections) - 1)
            transport.write(
                _raw_response(503, "Service Unavailable", "Server busy: too many connections")
            )
            transport.close()
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._cancel_body_timers()
        super().connection_lost(exc)

    # -- headers ---------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_seconds, self._headers_too_slow
            )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            message = "Request headers not received in time"
            self.transport.write(_raw_response(408, "Request Timeout", message))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        # Bytes between requests start the clock for the next request's headers. The
        # parser announces a message only at its first byte that is not a blank line, and
        # uvicorn drops its keep-alive timer on any byte: "\r\n" every few seconds after
        # a response would otherwise hold the connection forever.
        if (
            self._header_timer is None
            and self._body_deadline is None
            and (self.cycle is None or self.cycle.response_complete)
        ):
            self._arm_header_timer()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm_header_timer()  # a later request on a kept-alive connection

    def _count_header_bytes(self, n: int) -> bool:
        """False once the request line and headers exceed the limit (answered 431)."""
        if self._refused:
            return False
        self._header_bytes += n
        if self._header_bytes <= self.limits.max_header_bytes:
            return True
        self._refused = True
        self._cancel_header_timer()
        if not self.transport.is_closing():
            limit = self.limits.max_header_bytes
            message = f"Request line and headers too large: at most {limit} bytes are accepted"
            self.transport.write(_raw_response(431, "Request Header Fields Too Large", message))
            self.transport.close()
        return False

    def on_url(self, url: bytes) -> None:
        if self._count_header_bytes(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._count_header_bytes(len(name) + len(value) + 4):  # ": " and CRLF
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._cancel_header_timer()
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            return  # handed to a WebSocket protocol, which keeps its own time
        # Cancelled by on_message_complete, at once when there is no body.
        self._body_deadline = self.loop.time() + self.limits.body_timeout_seconds
        self._arm_idle_timer(self.limits.body_idle_timeout_seconds)

    # -- body ------------------------------------------------------------------------
    def _arm_idle_timer(self, delay: float) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        assert self._body_deadline is not None
        delay = min(delay, max(self._body_deadline - self.loop.time(), 0.0))
        self._idle_timer = self.loop.call_later(delay, self._body_check)

    def _cancel_body_timers(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._body_deadline = None

    def _body_check(self) -> None:
        self._idle_timer = None
        if self.transport.is_closing() or self._body_deadline is None:
            return
        if self.flow is not None and self.flow.read_paused:
            # The app has not consumed what arrived; the client is not the slow one.
            self._body_deadline += _RECHECK_SECONDS
            self._arm_idle_timer(_RECHECK_SECONDS)
            return
        self.logger.info("closing connection from %s: request body too slow", self.client)
        self._cancel_body_timers()
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app's receive() now answers disconnect
            self.cycle.message_event.set()
        self.transport.close()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        super().on_body(body)
        if self._body_deadline is not None:
            self._arm_idle_timer(self.limits.body_idle_timeout_seconds)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._cancel_body_timers()
        super().on_message_complete()
