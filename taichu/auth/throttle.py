"""Failed-login throttling per user and per client address, stored in the database so
every replica sees the same counters and a restart does not reset them."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.auth.models import LoginThrottle
from taichu.config import AuthSettings
from taichu.timeutil import utcnow


def throttle_keys(username: str, ip_address: str | None) -> list[str]:
    keys = [f"user:{username.lower()[:150]}"]
    if ip_address:
        keys.append(f"ip:{ip_address}")
    return keys


async def locked_for(session: AsyncSession, keys: list[str]) -> int:
    """Seconds until logins for these keys are allowed again (0: allowed now)."""
    now = utcnow()
    rows = await session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    wait = 0.0
    for row in rows:
        if row.locked_until and row.locked_until > now:
            wait = max(wait, (row.locked_until - now).total_seconds())
    return math.ceil(wait)


async def record_failure(session: AsyncSession, keys: list[str], rules: AuthSettings) -> int:
    """Count a failure for each key; returns the highest failure count in the window."""
    now = utcnow()
    window = timedelta(seconds=rules.login_failure_window_seconds)
    highest = 0
    for key in keys:
        row = await session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
        elif now - row.window_started_at > window:
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= rules.login_max_failures:
            row.locked_until = now + timedelta(seconds=rules.login_lockout_seconds)
        highest = max(highest, row.failures)
    await session.flush()
    return highest


async def clear(session: AsyncSession, keys: list[str]) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))


def slowdown_seconds(failures: int, rules: AuthSettings) -> float:
    """Delay before answering a failed login: grows with each failure past the threshold."""
    excess = failures - rules.login_slowdown_after
    if excess <= 0:
        return 0.0
    return min(0.25 * 2 ** (excess - 1), 3.0)
