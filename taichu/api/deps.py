"""Request dependencies: the context, the request's transaction, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.audit import recording
from taichu.auth import service as auth_service
from taichu.auth.principal import Principal, refuse_bootstrap
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import Forbidden, Unauthorized


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def db_session(ctx: Ctx, request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the handler returns, rolled back when it
    raises. Scope "function" commits before the response is sent. Reads (GET) use
    read-only sessions, which on SQLite do not wait for the write lock. The request's
    audit record is part of its change: appended last, committed with it; if it cannot be
    written the change rolls back and the request fails."""
    sessions = ctx.read_sessions if request.method in SAFE_METHODS else ctx.sessions
    async with transaction(sessions) as session:
        yield session
        await recording.write_current(session)


Session = Annotated[AsyncSession, Depends(db_session, scope="function")]

bearer_scheme = HTTPBearer(auto_error=False, description="JWT from /api/v1/auth/login")


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Authentication required: send Authorization: Bearer <token>")
    return credentials.credentials


async def signed_in(
    ctx: Ctx, request: Request, token: Annotated[str, Depends(bearer_token)]
) -> Principal:
    """Any valid session, the bootstrap one included: only for the routes it may use
    (profile, `me`, logout, the password change). Every other route takes `CurrentUser`."""
    async with ctx.read_sessions() as session:
        principal = await auth_service.authenticate(session, ctx.jwt_key, token)
    audit.note(user=principal.username, user_id=principal.user_id)
    request.scope["taichu.user"] = principal.username  # distinct users, traffic sampling
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


async def current_principal(principal: SignedIn) -> Principal:
    refuse_bootstrap(principal)
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def require_admin(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Admin role required")
    return principal


AdminUser = Annotated[Principal, Depends(require_admin)]
