"""One audit record for every mutating API request. The transaction that makes the
request's change writes it (`taichu.audit.recording`: the request's unit of work, or a
service's own transaction), so a crash cannot keep the change and lose its record. Here,
requests that committed no record (refusals and errors, which changed nothing) are
written in a transaction of their own before their answer starts: a caller who has the
answer finds its record in the log."""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taichu.api.client import client_address
from taichu.audit.context import AuditScope, begin_scope, end_scope
from taichu.audit.service import AuditEntry, append
from taichu.db.session import transaction
from taichu.domains import audit_vocabulary, installed

log = logging.getLogger("taichu.audit")

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Path segments that name an action rather than a resource, and plural resource segments
# with the singular recorded: declared by each domain (taichu.domains).
_VERBS, _SINGULAR = audit_vocabulary(installed())
_METHOD_ACTION = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def classify(method: str, template: str) -> tuple[str, str, str]:
    """(event_type, action, resource) from the route template, e.g.
    POST /api/v1/clusters/{id}/backups -> (cluster, create, backup)."""
    parts = [p for p in template.strip("/").split("/") if p]
    if parts[:2] == ["api", "v1"]:
        parts = parts[2:]
    elif parts[:1] == ["api"]:
        parts = parts[1:]
        if parts and parts[0] in ("runtime", "state"):
            parts = parts[1:] or parts
    static = [p for p in parts if not p.startswith("{")]
    if not static:
        return "api", _METHOD_ACTION.get(method, method.lower()), "api"
    event_type = _SINGULAR.get(static[0], static[0])
    action = _METHOD_ACTION.get(method, method.lower())
    resource = event_type
    for part in static[1:]:
        if part in _VERBS:
            action = part
        else:
            resource = _SINGULAR.get(part, part)
    if static[0] in _VERBS:
        action = static[0]
    return event_type, action, resource


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in MUTATING
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        audit = AuditScope(ip_address=client_address(scope))
        ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
        audit.key = getattr(ctx, "audit_key", None)
        audit.build_entry = lambda audit_, status: _entry(scope, audit_, status)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and not audit.written:
                await self._write(scope, ctx, audit, message["status"])
            await send(message)

        token = begin_scope(audit)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            end_scope(token)
            if not audit.written:  # no answer was started: the request failed
                await self._write(scope, ctx, audit, 500)

    async def _write(self, scope: Scope, ctx: Any, audit: AuditScope, status: int) -> None:
        if ctx is None or audit.key is None:
            return
        template = _template(scope)
        try:
            async with transaction(ctx.sessions) as session:
                await append(session, _entry(scope, audit, status), audit.key)
        except Exception:
            # The request changed nothing, but its record is lost: that must be loud.
            log.exception("could not write audit record for %s %s", scope["method"], template)
        # Once, even when it failed: the fallback after the app must not write it again.
        audit.written = True


def _template(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", None) or scope["path"]


def _entry(scope: Scope, audit: AuditScope, status: int | None) -> AuditEntry:
    """The record of this request; `status` None: the route's success status (the change
    is being committed, the response is not sent yet)."""
    if status is None:
        status = getattr(scope.get("route"), "status_code", None) or 200
    template = _template(scope)
    event_type, action, resource = classify(scope["method"], template)
    params: dict[str, Any] = scope.get("path_params") or {}
    resource_id = audit.resource_id or params.get("id") or params.get("importId")
    cluster_id = audit.cluster_id
    if cluster_id is None and event_type == "cluster" and "id" in params:
        cluster_id = str(params["id"])
    return AuditEntry(
        event_type=audit.event_type or event_type,
        action=audit.action or action,
        resource=audit.resource or resource,
        resource_id=str(resource_id) if resource_id is not None else None,
        cluster_id=cluster_id,
        user=audit.user,
        user_id=audit.user_id,
        ip_address=audit.ip_address,
        method=scope["method"],
        path=scope["path"],
        status_code=status,
        old_value=audit.old_value,
        new_value=audit.new_value,
        details=audit.details,
        result=audit.result or ("success" if status < 400 else "failure"),
    )
