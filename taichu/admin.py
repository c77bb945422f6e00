"""Operations behind `taichu admin` and `taichu audit` commands."""

from __future__ import annotations

from pathlib import Path

from taichu.audit.integrity import ChainReport, seal_unkeyed, verify_chain
from taichu.audit.service import AuditEntry, append
from taichu.auth.passwords import hash_password
from taichu.auth.throttle import unlock_user
from taichu.config import Settings
from taichu.context import AppContext
from taichu.crypto import SECRET_FILE_NAME
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.users.service import check_password_strength, find_by_username


def _cli_entry(action: str, user_id: str, details: dict[str, object]) -> AuditEntry:
    return AuditEntry(
        event_type="user",
        action=action,
        resource="user",
        result="success",
        resource_id=user_id,
        user="cli",
        details=details,
    )


async def reset_password(settings: Settings, username: str, password: str) -> str | None:
    """Returns an error message, or None on success."""
    ctx = AppContext.create(settings)
    try:
        check_password_strength(password, settings.auth.password_min_length)
        password_hash = await hash_password(settings.auth, password)  # before the transaction
        async with transaction(ctx.sessions) as session:
            user = await find_by_username(session, username)
            if user is None:
                return f"user '{username}' not found"
            user.replace_password(password_hash)
            await append(
                session,
                _cli_entry("password", user.id, {"via": "taichu admin reset-password"}),
                ctx.audit_key,
            )
        return None
    except TaichuError as e:
        return e.message
    finally:
        await ctx.close()


def installation_secret_missing(settings: Settings) -> str | None:
    """Why the installation secret cannot be read (verification needs it and must never
    generate a new one), or None."""
    if settings.secret_key:
        return None
    path = Path(settings.data_dir) / SECRET_FILE_NAME
    if path.is_file():
        return None
    return (
        f"the installation secret is not available: TAICHU_SECRET_KEY is unset and {path} "
        "does not exist; the audit chain is keyed with it, so verification needs the "
        "server's secret (set TAICHU_SECRET_KEY, or point --data-dir at the server's data)"
    )


async def unlock(settings: Settings, username: str) -> tuple[str | None, str]:
    """Clears a user's failed-login locks. Returns (error, the user's name as stored)."""
    ctx = AppContext.create(settings)
    try:
        async with transaction(ctx.sessions) as session:
            user = await find_by_username(session, username)
            if user is None:
                return f"user '{username}' not found", username
            cleared = await unlock_user(session, user.username)
            details = {"via": "taichu admin unlock", "cleared": cleared}
            await append(session, _cli_entry("unlock", user.id, details), ctx.audit_key)
            return None, user.username
    finally:
        await ctx.close()


async def seal_audit(settings: Settings) -> int:
    """`taichu audit seal`: MACs for the records written before the chain was keyed."""
    ctx = AppContext.create(settings)
    try:
        return await seal_unkeyed(ctx.sessions, ctx.audit_key)
    finally:
        await ctx.close()


async def verify_audit(settings: Settings, anchor: tuple[int, str] | None = None) -> ChainReport:
    ctx = AppContext.create(settings)
    try:
        async with ctx.read_sessions() as session:
            return await verify_chain(session, ctx.audit_key, anchor)
    finally:
        await ctx.close()
