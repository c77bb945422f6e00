"""Failed-login throttling, stored in the database so every replica sees the same counters
and a restart does not reset them.

Three counters per failed attempt, so that the lockout cannot be turned against a user:
- `pair:<user>|<address>` locks that user *at that address* after `login_max_failures`;
- `ip:<address>` locks the address for every user after `login_address_max_failures`
  (one address guessing many accounts);
- `user:<user>` never locks: it slows each attempt for that user, up to a cap, so that
  guessing one account from many addresses is slowed while its owner still logs in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from taichu.auth.models import LoginThrottle
from taichu.config import AuthSettings
from taichu.timeutil import utcnow
from taichu.users.models import fold_username

_PART = 64  # usernames are at most 64 characters; an address (IPv6 text) fewer


@dataclass(frozen=True)
class Keys:
    user: str
    pair: str | None
    address: str | None

    def all(self) -> list[str]:
        return [k for k in (self.user, self.pair, self.address) if k]


def _user_part(username: str) -> str:
    return fold_username(username)[:_PART]


def keys_for(username: str, ip_address: str | None) -> Keys:
    name = _user_part(username)
    address = ip_address[:_PART] if ip_address else None
    return Keys(
        user=f"user:{name}",
        pair=f"pair:{name}|{address}" if address else None,
        address=f"ip:{address}" if address else None,
    )


@dataclass(frozen=True)
class Standing:
    wait: int  # seconds until logins for these keys are allowed (0: now)
    delay: float  # how long this attempt waits before its verdict


def _current(row: LoginThrottle, now: datetime, rules: AuthSettings) -> int:
    window = timedelta(seconds=rules.login_failure_window_seconds)
    return row.failures if now - row.window_started_at <= window else 0


async def standing(session: AsyncSession, keys: Keys, rules: AuthSettings) -> Standing:
    now = utcnow()
    rows = {
        r.key: r
        for r in await session.scalars(
            select(LoginThrottle).where(LoginThrottle.key.in_(keys.all()))
        )
    }
    wait = 0.0
    for key in (keys.pair, keys.address):  # the per-user counter never locks
        row = rows.get(key) if key else None
        if row is not None and row.locked_until and row.locked_until > now:
            wait = max(wait, (row.locked_until - now).total_seconds())
    failures = max(
        (_current(rows[k], now, rules) for k in (keys.user, keys.pair) if k in rows), default=0
    )
    return Standing(math.ceil(wait), slowdown_seconds(failures + 1, rules))


def _insert_missing(session: AsyncSession, key: str, now: datetime) -> Executable:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"key": key, "failures": 0, "window_started_at": now, "locked_until": None}
    return insert(LoginThrottle).values(**values).on_conflict_do_nothing(index_elements=["key"])


async def record_failure(session: AsyncSession, keys: Keys, rules: AuthSettings) -> int:
    """Count a failure on each counter; returns the user's failures in the window (at this
    address or anywhere, whichever is higher)."""
    now = utcnow()
    limits = {keys.user: None, keys.pair: rules.login_max_failures}
    if keys.address:
        limits[keys.address] = rules.login_address_max_failures
    highest = 0
    # Sorted: concurrent failures lock shared rows in one order (no deadlock on PostgreSQL).
    for key in sorted(k for k in limits if k):
        # Insert-or-nothing, then the row under a lock: concurrent failures all count.
        await session.execute(_insert_missing(session, key, now))
        row = await session.scalar(
            select(LoginThrottle)
            .where(LoginThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None  # inserted just above
        if not _current(row, now, rules):
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        limit = limits[key]
        if limit is not None and row.failures >= limit:
            row.locked_until = now + timedelta(seconds=rules.login_lockout_seconds)
        if key != keys.address:
            highest = max(highest, row.failures)
    await session.flush()
    return highest


async def clear_after_success(session: AsyncSession, keys: Keys) -> None:
    """The user's counters go; the address's stays (logging in to one's own account must
    not reset the count of guesses at others')."""
    mine = [k for k in (keys.user, keys.pair) if k]
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(mine)))


async def unlock_user(session: AsyncSession, username: str) -> int:
    """Clears a user's locks at every address and its slow-down; returns the rows cleared."""
    name = _user_part(username)
    result = await session.execute(
        delete(LoginThrottle).where(
            or_(
                LoginThrottle.key == f"user:{name}",
                LoginThrottle.key.startswith(f"pair:{name}|", autoescape=True),
            )
        )
    )
    return int(result.rowcount or 0)


def slowdown_seconds(failures: int, rules: AuthSettings) -> float:
    """Wait before answering attempt number `failures`: doubles past the threshold, capped."""
    excess = failures - rules.login_slowdown_after
    if excess <= 0:
        return 0.0
    return min(0.25 * 2 ** min(excess - 1, 30), rules.login_slowdown_max_seconds)
