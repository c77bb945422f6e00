"""The audit scope of the current request: routes and services add what changed; the
transaction that makes the change writes the record (`taichu.audit.recording`), and the
audit middleware writes it for requests that changed nothing (refusals, errors)."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taichu.audit.service import AuditEntry

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"pass(word)?|token|secret|kubeconfig|private_?key|credential|authorization|"
    r"client[-_]?key|key[-_]?data|certificate[-_]?authority[-_]?data|client[-_]?certificate",
    re.IGNORECASE,
)


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-looking field replaced by `***`."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@dataclass
class AuditScope:
    ip_address: str | None = None
    user: str | None = None
    user_id: str | None = None
    event_type: str | None = None
    action: str | None = None
    resource: str | None = None
    resource_id: str | None = None
    cluster_id: str | None = None
    old_value: dict[str, Any] | None = None
    new_value: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    result: str | None = None
    # Set by the middleware: the request's entry for a status (None: the route's success
    # status), and the chain's key.
    build_entry: Callable[[AuditScope, int | None], AuditEntry] | None = None
    key: bytes | None = None
    pending: bool = False  # appended in a transaction that has not ended yet
    written: bool = False  # committed with the change it describes


_current: ContextVar[AuditScope | None] = ContextVar("taichu_audit_scope", default=None)


def current_scope() -> AuditScope | None:
    return _current.get()


def begin_scope(scope: AuditScope) -> object:
    return _current.set(scope)


def end_scope(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def note(**fields: Any) -> None:
    """Add to the current request's audit record; a no-op outside a request (jobs)."""
    scope = _current.get()
    if scope is None:
        return
    for name, value in fields.items():
        if name == "details":
            scope.details.update(redact(value))
        elif name in ("old_value", "new_value"):
            setattr(scope, name, redact(value))
        else:
            setattr(scope, name, value)


def note_default(**fields: Any) -> None:
    """Like `note`, but only for fields nothing has set yet."""
    scope = _current.get()
    if scope is None:
        return
    note(**{k: v for k, v in fields.items() if getattr(scope, k, None) is None})
