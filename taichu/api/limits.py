"""Request-body size limit, enforced while the body streams in.

The declared `Content-Length` is checked before the first byte is handed to the app, and
the bytes of `http.request` messages are counted as they arrive, so no more than the
limit (plus one network chunk) is ever buffered. The default comes from
`TAICHU_HTTP__MAX_BODY_BYTES`; a route that needs more says so with `@allow_body(...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__taichu_max_body_bytes__"


def allow_body(max_bytes: int) -> Callable[[F], F]:
    """Per-route override of the body limit; put it under the route decorator:

    @router.post("/things")
    @allow_body(8 * 1024 * 1024)
    async def create_thing(...): ...
    """

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTR, max_bytes)
        return endpoint

    return mark


class BodyTooLarge(HTTPException):
    """Rendered by the app's error handler in the family's shape; the connection is
    closed after it so the client stops sending the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"Request body too large: at most {limit} bytes are accepted here",
            headers={"Connection": "close"},
        )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser refuses these before we run
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.default = max_body_bytes

    def _limit(self, scope: Scope) -> int:
        # Routing has happened by the time the app reads the body: the endpoint is known.
        override = getattr(scope.get("endpoint"), _ATTR, None)
        return override if isinstance(override, int) else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            limit = self._limit(scope)
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def closing_send(message: Message) -> None:
            # A response sent without reading an oversized body: close the connection
            # rather than keep reading (and discarding) what the client still sends.
            if (
                message["type"] == "http.response.start"
                and declared is not None
                and declared > self._limit(scope)
            ):
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)
