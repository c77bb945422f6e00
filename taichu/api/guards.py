"""Request guards that apply before routing."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from taichu.api.errors import is_runtime_path


class RejectNulMiddleware:
    """NUL characters in a path or query string can reach no valid resource and no
    database column: refuse them up front (400) instead of failing deep inside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = (scope.get("raw_path") or b"") + b"?" + (scope.get("query_string") or b"")
            if b"%00" in raw or b"\x00" in raw or "\x00" in scope["path"]:
                await self._refuse(scope, send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        from starlette.responses import JSONResponse

        message = "Invalid request parameter: path and query must not contain NUL characters"
        body = (
            {"detail": message}
            if is_runtime_path(scope["path"])
            else {"code": 400, "message": message, "data": None}
        )
        await JSONResponse(body, status_code=400)(scope, _noop_receive, send)


async def _noop_receive() -> dict[str, object]:
    return {"type": "http.disconnect"}
