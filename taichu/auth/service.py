"""Login, registration, token refresh and revocation."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taichu.audit import context as audit
from taichu.audit import recording
from taichu.auth import throttle
from taichu.auth.models import RevokedToken
from taichu.auth.passwords import hash_password, needs_rehash, verify_password
from taichu.auth.principal import Principal, refuse_bootstrap
from taichu.auth.tokens import decode_token, issue_token
from taichu.config import Settings
from taichu.db.session import transaction
from taichu.errors import Forbidden, TooManyRequests, Unauthorized
from taichu.timeutil import utcnow
from taichu.users import service as users
from taichu.users.models import User

log = logging.getLogger("taichu.auth")


@dataclass
class IssuedToken:
    token: str
    expires_in: int
    user: User


async def authenticate(session: AsyncSession, key: bytes, token: str) -> Principal:
    claims = decode_token(key, token)
    if await session.get(RevokedToken, claims.jti) is not None:
        raise Unauthorized("Invalid token: Token revoked")
    user = await session.get(User, claims.user_id)
    if user is None:
        raise Unauthorized("Invalid token: user no longer exists")
    if user.outdated(claims.jti, claims.password_version):
        raise Unauthorized("Invalid token: the password was changed since; log in again")
    # The role comes from the database, so a demotion takes effect at once.
    return Principal(
        user.id,
        user.username,
        user.role,
        claims.jti,
        claims.expires_at,
        password_change_required=user.password_change_required,
    )


def issue(settings: Settings, key: bytes, user: User) -> IssuedToken:
    token, _ = issue_token(
        key,
        user_id=user.id,
        username=user.username,
        role=user.role,
        ttl_seconds=settings.auth.token_ttl_seconds,
        password_version=user.password_version,
    )
    return IssuedToken(token, settings.auth.token_ttl_seconds, user)


async def login(
    sessions: async_sessionmaker[AsyncSession],
    readers: async_sessionmaker[AsyncSession],
    settings: Settings,
    key: bytes,
    *,
    username: str,
    password: str,
    ip_address: str | None,
) -> IssuedToken:
    """Checks credentials under the failed-login throttle (see `throttle`). Reads in a
    read-only session, verifies in a hashing thread with no transaction open, then writes
    the outcome in a short transaction of its own: a failure must be counted even though
    the request ends in an error."""
    audit.note(user=username)
    audit.note_default(resource="session", event_type="auth", action="login")
    keys = throttle.keys_for(username, ip_address)
    async with readers() as session:
        standing = await throttle.standing(session, keys, settings.auth)
        user = None if standing.wait else await users.find_by_username(session, username)
    if standing.wait:
        audit.note(details={"reason": "too many failed logins", "retry_after": standing.wait})
        raise TooManyRequests(
            f"Too many failed login attempts; try again in {standing.wait} seconds",
            retry_after=standing.wait,
        )
    if standing.delay:  # before the verdict, so giving up early tells a guesser nothing
        await asyncio.sleep(standing.delay)
    checked = user.password_hash if user else None
    if await verify_password(settings.auth, checked, password) and user is not None:
        rehashed = (
            await hash_password(settings.auth, password)
            if needs_rehash(user.password_hash)
            else None
        )
        async with transaction(sessions) as session:
            current = await session.get(User, user.id)
            # A password changed meanwhile is not the one just verified.
            if current is not None and current.password_hash == checked:
                await throttle.clear_after_success(session, keys)
                current.last_login_at = utcnow()
                if rehashed:
                    current.password_hash = rehashed
                audit.note(user=current.username, user_id=current.id, resource_id=current.id)
                await recording.write_current(session)  # committed with the login, or no token
                return issue(settings, key, current)
    refusal = Unauthorized("Invalid username or password")
    async with transaction(sessions) as session:
        failures = await throttle.record_failure(session, keys, settings.auth)
        audit.note(details={"reason": "invalid credentials", "failures": failures})
        await recording.write_current(session, failure=refusal)  # with the counted failure
    raise refusal


async def register(
    session: AsyncSession,
    settings: Settings,
    *,
    caller: Principal | None,
    username: str,
    password: str,
    email: str | None,
    role: str | None,
) -> User:
    is_admin = caller is not None and caller.is_admin
    if not settings.allow_registration and not is_admin:
        raise Forbidden("Registration is disabled on this installation")
    if role == "admin" and not is_admin:
        raise Forbidden("Only an admin can register a user with the admin role")
    audit.note(user=caller.username if caller else username, event_type="auth", action="register")
    return await users.create_user(
        session,
        settings,
        username=username,
        password=password,
        email=email,
        role=role or "user",
    )


async def revoke(session: AsyncSession, jti: str, claims_expiry: object) -> None:
    if await session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=claims_expiry))
        await session.flush()


async def refresh(session: AsyncSession, settings: Settings, key: bytes, token: str) -> IssuedToken:
    principal = await authenticate(session, key, token)
    audit.note(
        user=principal.username,
        user_id=principal.user_id,
        event_type="auth",
        action="refresh",
        resource="session",
    )
    await revoke(session, principal.jti, principal.expires_at)
    user = await session.get(User, principal.user_id)
    assert user is not None  # authenticate() just loaded it
    return issue(settings, key, user)


async def logout(session: AsyncSession, principal: Principal) -> None:
    audit.note(event_type="auth", action="logout", resource="session")
    await revoke(session, principal.jti, principal.expires_at)


async def prune_revoked(session: AsyncSession) -> int:
    """Revocations of tokens that have expired anyway are no longer needed."""
    result = await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    return int(result.rowcount or 0)


async def optional_principal(
    session: AsyncSession, key: bytes, token: str | None
) -> Principal | None:
    if not token:
        return None
    principal = await authenticate(session, key, token)
    refuse_bootstrap(principal)
    return principal


async def dev_token(session: AsyncSession, settings: Settings, key: bytes) -> IssuedToken:
    """Development only: a token for the first admin."""
    admin = await session.scalar(select(User).where(User.role == "admin").limit(1))
    if admin is None:
        raise Unauthorized("no admin user exists")
    return issue(settings, key, admin)


async def unlock(session: AsyncSession, user: User) -> int:
    """Clears the user's failed-login locks at every address; returns the counters cleared."""
    cleared = await throttle.unlock_user(session, user.username)
    audit.note(resource="user", resource_id=user.id, details={"cleared": cleared})
    log.info("login locks of user %s cleared (%d counters)", user.id, cleared)
    return cleared
