"""Loaded by the schemathesis CLI (SCHEMATHESIS_HOOKS): the error-shape check."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Errors of /api/v1 (and outside /api) are enveloped; the runtime family uses detail."""
    if response.status_code < 400:
        return None
    body = response.json()
    path = case.operation.path
    if path.startswith("/api/") and not path.startswith("/api/v1"):
        assert isinstance(body.get("detail"), str), f"runtime error without detail: {body}"
    else:
        assert body.get("code") == response.status_code, f"code != status: {body}"
        assert "data" in body and body["data"] is None, f"data not null: {body}"
        assert isinstance(body.get("message"), str) and body["message"], f"no message: {body}"
        assert "Traceback" not in body["message"]
    return None
