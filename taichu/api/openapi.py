"""The OpenAPI document: clean operation ids and the error responses the server sends.

Operation ids are `<domain>_<action>` derived from the path (`clusters_list`,
`backups_restore`, `runtime_clusters_register`); a route may still pass `operation_id=`.
FastAPI's own 422 (`HTTPValidationError`, an array the server never sends) is replaced
by the statuses each operation can answer, in its family's error shape.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from taichu.api.errors import is_runtime_path

# A last path segment that names what is done (or a view of the resource before it),
# not a resource: the action, under the resource before it.
_ACTIONS = {
    "login",
    "logout",
    "register",
    "refresh",
    "password",
    "restore",
    "bind",
    "command",
    "import",
    "create",
    "cancel",
    "retry",
    "status",
    "audit",
    "topology",
    "profile",
    "token",
    "me",
}
# One object per parent (read and replaced, never listed).
_SINGLETONS = {"security-policies", "autoscaling-policies", "resources"}
_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def _ident(segment: str) -> str:
    return segment.replace("-", "_").replace(".", "_")


def _plural(segment: str) -> str:
    return segment if segment.endswith("s") else segment + "s"


def operation_id(route: APIRoute) -> str:
    method = sorted(route.methods or {"GET"})[0]
    parts = [p for p in route.path_format.strip("/").split("/") if p]
    prefix = ""
    if parts[:2] == ["api", "v1"]:
        parts = parts[2:]
    elif parts[:1] == ["api"]:
        prefix, parts = "runtime_", [p for p in parts[1:] if p != "runtime"]
    else:
        return f"system_{_ident('_'.join(parts) or 'root')}"
    # (segment, followed by a {param}?) for the static segments.
    statics = [
        (part, i + 1 < len(parts) and parts[i + 1].startswith("{"))
        for i, part in enumerate(parts)
        if not part.startswith("{")
    ]
    last, last_has_param = statics[-1]
    trailing_param = parts[-1].startswith("{")
    if last in _ACTIONS and not trailing_param and len(statics) > 1:
        parent, parent_has_param = statics[-2]
        domain, action = (_plural(parent) if parent_has_param else parent), last
    elif last in _SINGLETONS:
        domain, action = last, "get" if method == "GET" else _BY_METHOD.get(method, "call")
    else:
        domain = _plural(last) if last_has_param else last
        if method == "GET":
            action = "get" if trailing_param else "list"
        else:
            action = _BY_METHOD.get(method, method.lower())
    return f"{prefix}{_ident(domain)}_{action}"


ERROR_ENVELOPE = {
    "title": "ErrorEnvelope",
    "type": "object",
    "description": "An /api/v1 error: `code` equals the HTTP status, `data` is null.",
    "properties": {
        "code": {"type": "integer", "title": "Code"},
        "message": {"type": "string", "title": "Message"},
        "data": {"type": "null", "title": "Data"},
    },
    "required": ["code", "message", "data"],
}
ERROR_DETAIL = {
    "title": "ErrorDetail",
    "type": "object",
    "description": "A runtime-family (/api/...) error.",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}
_DESCRIPTIONS = {
    400: "Malformed request: bad JSON, a missing field or a wrong type",
    401: "Not authenticated: no, invalid or expired token; or wrong credentials",
    403: "Not allowed: the caller's role, or the client's address is blocked",
    404: "No such resource",
    409: "Conflicts with an existing resource or its state",
    413: "Request body larger than the limit",
    422: "A well-formed value breaks a rule",
    429: "Too many attempts; retry after the Retry-After seconds",
    502: "A cluster or machine answered something the platform could not use",
    503: "Unavailable now (a cluster, a machine, or the audit log could not be written); "
    "retry later",
}
# Paths whose operations reach a cluster or a machine while the request waits (their
# errors are 502 or 503, never the caller's 401/403/404: `kube.errors`).
_UPSTREAM = re.compile(
    r"^/api/(v1/clusters/\{id\}/|v1/clusters$|v1/machines|runtime/|state/command/|auth/k8s/)"
)
# Statuses that the generic rules below cannot see from the schema alone.
_EXTRA = {
    ("post", "/api/v1/auth/login"): {401, 429},
    ("post", "/api/auth/login/"): {401, 429},
    ("post", "/api/v1/auth/register"): {403, 409},
    ("post", "/api/auth/register/"): {403, 409, 429},  # it logs in, too
    ("post", "/api/v1/auth/refresh"): {401},
    ("get", "/api/v1/auth/token"): {403, 404},
    ("post", "/api/state/command/"): {429},  # too many commands running (commands/gate.py)
    ("get", "/readyz"): {503},  # the database does not answer
}


def _statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    statuses: set[int] = set(_EXTRA.get((method, path), ()))
    params = operation.get("parameters") or []
    statuses.add(403)  # a blocked address, on every path (blacklist/enforcement.py)
    if operation.get("security"):
        statuses.add(401)
        if method in {"post", "put", "patch", "delete"}:
            statuses |= {409, 503}  # 503: its audit record could not be written
    if _UPSTREAM.match(path):
        statuses |= {502, 503}
    if any(p.get("in") == "path" for p in params):
        statuses.add(404)
    if params or "requestBody" in operation:
        statuses |= {400, 422}
    if "requestBody" in operation:
        statuses.add(413)
    return statuses


def _rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ErrorEnvelope"] = ERROR_ENVELOPE
    components["ErrorDetail"] = ERROR_DETAIL
    for path, operations in schema.get("paths", {}).items():
        shape = "ErrorDetail" if is_runtime_path(path) else "ErrorEnvelope"
        ref = f"#/components/schemas/{shape}"
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]  # FastAPI's own, never sent
            for status in sorted(_statuses(method, path, operation)):
                responses.setdefault(
                    str(status),
                    {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": {"$ref": ref}}},
                    },
                )
    return schema


def install_openapi(app: FastAPI) -> None:
    """The rewritten document (operation ids: `FastAPI(generate_unique_id_function=...)`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _rewrite(generate())  # FastAPI's document, cached by it on the app
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
