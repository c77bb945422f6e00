"""Renders every error in the shape of the API family the request belongs to:
`/api/v1` (and everything outside `/api/`) gets the envelope, the runtime family `/api/...`
gets `{"detail": ...}`. Never a stack trace."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from taichu.errors import TaichuError, TooManyRequests

log = logging.getLogger("taichu.api")

# Pydantic error types that mean "the request is malformed" (400) rather than
# "a well-formed value breaks a rule" (422), per DESIGN.md.
_MALFORMED_TYPES = {
    "missing",
    "json_invalid",
    "model_type",
    "model_attributes_type",
    "dict_type",
    "list_type",
    "extra_forbidden",
    "none_required",
    "is_instance_of",
}


def _is_malformed(error: dict[str, Any]) -> bool:
    kind = str(error.get("type", ""))
    return kind in _MALFORMED_TYPES or kind.endswith("_type") or kind.endswith("_parsing")


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def describe_validation(errors: list[dict[str, Any]]) -> tuple[int, str]:
    status = 400 if any(_is_malformed(e) for e in errors) else 422
    described = []
    for error in errors[:5]:
        if error.get("type") == "json_invalid":
            described.append("request body is not valid JSON")
            continue
        msg = str(error.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        described.append(f"{_field_name(error.get('loc', ()))}: {msg}")
    return status, "Invalid request parameter: " + "; ".join(described)


def is_runtime_path(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/v1")


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    if is_runtime_path(request.url.path):
        body: dict[str, Any] = {"detail": message}
    else:
        body = {"code": status, "message": message, "data": None}
    return JSONResponse(body, status_code=status, headers=headers)


_STATUS_TEXT = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TaichuError)
    async def _taichu(request: Request, exc: TaichuError) -> JSONResponse:
        headers = None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        if exc.status >= 500:
            log.warning("request failed: %s %s: %s", request.method, request.url.path, exc)
        return error_response(request, exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = describe_validation(list(exc.errors()))
        return error_response(request, status, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"Not found: {request.method} {request.url.path}"
        if exc.status_code == 405:
            detail = f"Method {request.method} not allowed on {request.url.path}"
        message = detail or _STATUS_TEXT.get(exc.status_code, "Error")
        return error_response(request, exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(json.JSONDecodeError)
    async def _json(request: Request, exc: json.JSONDecodeError) -> JSONResponse:
        return error_response(request, 400, "request body is not valid JSON")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "Internal server error")
