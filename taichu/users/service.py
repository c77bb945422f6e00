"""User accounts: creation, listing, updates, deletion, passwords."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taichu.audit import context as audit
from taichu.auth.passwords import hash_password, verify_password
from taichu.auth.principal import Principal, refuse_bootstrap
from taichu.config import Settings
from taichu.db.search import contains_text
from taichu.errors import Conflict, Forbidden, Invalid, NotFound
from taichu.users.models import User, fold_username, username_key

log = logging.getLogger("taichu.users")

DEFAULT_ADMIN = "admin"


def check_password_strength(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise Invalid(f"password: must be at least {min_length} characters")
    weak_shape = password.isdigit() or (password.isalpha() and password.lower() == password)
    # The weakest shapes (all digits, all lower-case letters) pass only when long.
    if weak_shape and len(password) < 12:
        raise Invalid("password: too weak; mix letters with digits or symbols")


async def find_by_username(session: AsyncSession, username: str) -> User | None:
    """Without regard to case: `ADMIN` finds `admin`."""
    return await session.scalar(select(User).where(username_key() == fold_username(username)))


async def create_user(
    session: AsyncSession,
    settings: Settings,
    *,
    username: str,
    password: str,
    email: str | None,
    role: str = "user",
) -> User:
    check_password_strength(password, settings.auth.password_min_length)
    # Hashed before the session's first statement: no transaction is open yet (the request's
    # unit of work begins lazily), so the write lock is not held while a thread hashes.
    password_hash = await hash_password(settings.auth, password)
    if await find_by_username(session, username):
        raise Conflict(f"username '{username}' already exists")
    user = User(username=username, email=email, role=role, password_hash=password_hash)
    try:
        # Added inside the savepoint: opening one flushes what is pending outside it.
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as e:
        raise Conflict(f"username '{username}' already exists") from e
    audit.note(
        resource="user",
        resource_id=user.id,
        new_value={"username": username, "email": email, "role": role},
    )
    return user


async def ensure_admin(session: AsyncSession, settings: Settings) -> User | None:
    """First start: create `admin` when there are no users yet. (Once per installation, at
    start-up before serving: the one hash that runs inside a transaction.)"""
    if await session.scalar(select(func.count(User.id))):
        return None
    password = settings.admin_password or "admin"
    # Unset or empty (`TAICHU_ADMIN_PASSWORD=`, a variable left blank): the bootstrap password.
    default = not settings.admin_password
    user = User(
        username=DEFAULT_ADMIN,
        email=None,
        role="admin",
        password_hash=await hash_password(settings.auth, password),
        password_change_required=default,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        return None  # another replica created it first
    if default:
        log.warning(
            "created user 'admin' with the default password 'admin': set TAICHU_ADMIN_PASSWORD "
            "or change it now (PUT /api/v1/users/{id}/password)"
        )
    return user


def _authorize_self_or_admin(actor: Principal, user_id: str) -> None:
    if not actor.is_admin and actor.user_id != user_id:
        raise Forbidden("You may only access your own user record")


async def get_user(session: AsyncSession, actor: Principal, user_id: str) -> User:
    _authorize_self_or_admin(actor, user_id)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def list_users(
    session: AsyncSession, *, role: str | None, search: str | None, offset: int, limit: int
) -> tuple[list[User], int]:
    query = select(User)
    if role:
        query = query.where(User.role == role)
    if search:
        query = query.where(contains_text(search, User.username, User.email))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    ordered = query.order_by(User.created_at, User.id)
    rows = await session.scalars(ordered.offset(offset).limit(limit))
    return list(rows), int(total or 0)


async def _admin_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(User.id)).where(User.role == "admin")) or 0)


async def update_user(
    session: AsyncSession,
    actor: Principal,
    user_id: str,
    *,
    email: str | None,
    role: str | None,
    fields_set: set[str],
) -> User:
    user = await get_user(session, actor, user_id)
    old = {"email": user.email, "role": user.role}
    if "role" in fields_set and role is not None and role != user.role:
        if not actor.is_admin:
            raise Forbidden("Only an admin can change a role")
        if user.role == "admin" and await _admin_count(session) <= 1:
            raise Conflict("cannot remove the admin role from the last admin")
        user.role = role
    if "email" in fields_set:
        user.email = email
    await session.flush()
    audit.note(
        resource="user",
        resource_id=user.id,
        old_value=old,
        new_value={"email": user.email, "role": user.role},
    )
    return user


async def delete_user(session: AsyncSession, actor: Principal, user_id: str) -> None:
    if not actor.is_admin:
        raise Forbidden("Admin role required")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if user.role == "admin" and await _admin_count(session) <= 1:
        raise Conflict("cannot delete the last admin")
    audit.note(
        resource="user",
        resource_id=user.id,
        old_value={"username": user.username, "email": user.email, "role": user.role},
    )
    await session.delete(user)
    await session.flush()


async def change_password(
    session: AsyncSession,
    readers: async_sessionmaker[AsyncSession],
    settings: Settings,
    actor: Principal,
    user_id: str,
    *,
    old_password: str | None,
    new_password: str,
) -> None:
    """Reads the user in a read-only session, hashes in a thread, then writes in `session`
    (whose transaction begins only then): no write lock is held while hashing."""
    if actor.user_id != user_id:
        refuse_bootstrap(actor)  # the bootstrap admin may change its own password only
    async with readers() as reader:
        user = await get_user(reader, actor, user_id)
    own = actor.user_id == user.id
    # Changing one's own password needs the old one, even for an admin.
    if own:
        if not old_password or not await verify_password(
            settings.auth, user.password_hash, old_password
        ):
            raise Invalid("old_password: incorrect")
        if old_password == new_password:
            raise Invalid("new_password: must differ from the old password")
    check_password_strength(new_password, settings.auth.password_min_length)
    new_hash = await hash_password(settings.auth, new_password)
    current = await session.get(User, user_id)
    if current is None:
        raise NotFound(f"user {user_id} not found")
    if own and current.password_hash != user.password_hash:
        raise Conflict("the password was changed meanwhile; try again")
    # The session making its own change stays; an admin's reset ends all of the user's.
    current.replace_password(new_hash, keep_token_id=actor.jti if own else None)
    await session.flush()
    audit.note(resource="user", resource_id=user.id, details={"password_changed": True})
