"""Writing the current request's audit record in the transaction of its change, so the
record and the change are committed (or lost) together."""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit.context import AuditScope, current_scope
from taichu.audit.service import append
from taichu.errors import TaichuError, Unavailable

log = logging.getLogger("taichu.audit")


def _settle_on_commit(session: AsyncSession, scope: AuditScope) -> None:
    def committed(_session: object) -> None:
        scope.pending, scope.written = False, True

    def rolled_back(_session: object) -> None:
        # The change is gone too: the middleware records the failed request instead.
        scope.pending = False

    event.listen(session.sync_session, "after_commit", committed, once=True)
    event.listen(session.sync_session, "after_rollback", rolled_back, once=True)


async def write_current(session: AsyncSession, failure: TaichuError | None = None) -> None:
    """Append the current request's record in `session`'s transaction: call it last before
    the commit of the transaction that makes the request's change (the request's unit of
    work does; services with transactions of their own call it in theirs). `failure`: the
    change is the bookkeeping of a refusal about to be raised (a counted failed login).
    Once per request; a no-op outside a request (jobs) and for reads."""
    scope = current_scope()
    if scope is None or scope.written or scope.pending:
        return
    if scope.build_entry is None or scope.key is None:
        return
    entry = scope.build_entry(scope, failure.status if failure is not None else None)
    try:
        await append(session, entry, scope.key)
    except SQLAlchemyError as e:
        # No change without its record: the caller's transaction rolls back.
        log.exception("could not write the audit record of %s %s", entry.method, entry.path)
        raise Unavailable("The audit log cannot be written: nothing was changed") from e
    scope.pending = True
    _settle_on_commit(session, scope)
