"""Concurrent creates of one username: over HTTP against a real `taichu serve` (sign-ups),
and the first-start admin of two replicas on one PostgreSQL database. The unique index
decides; the loser is a 409 (sign-up) or starts normally (the admin exists), never a 500
or a failed start."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select, text

from taichu.config import Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.users.models import User
from taichu.users.service import DEFAULT_ADMIN, ensure_admin
from tests.clusters.serving import Served, serve
from tests.support.db import BACKEND
from tests.support.waiting import wait_for

RACERS = 8


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("concurrent-users"), "concurrent_users") as served:
        yield served


def test_concurrent_sign_ups_of_one_username_store_one(served: Served) -> None:
    def attempt(i: int) -> httpx.Response:
        body = {"username": "racer", "password": f"s3cret-pass-{i}"}
        with served.client() as client:
            return client.post("/api/v1/auth/register", json=body)

    with concurrent.futures.ThreadPoolExecutor(RACERS) as pool:
        responses = list(pool.map(attempt, range(RACERS)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (RACERS - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {
                "code": 409,
                "message": "username 'racer' already exists",
                "data": None,
            }
    with served.client() as client:
        listed = client.get("/api/v1/users?limit=100", headers=served.admin)
    assert listed.status_code == 200, listed.text
    names = [u["username"] for u in listed.json()["data"]["users"]]
    assert names.count("racer") == 1


@pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite serialises writers: the two inserts cannot interleave"
)
async def test_second_replica_starts_when_another_created_the_admin_first(
    ctx: AppContext, settings: Settings
) -> None:
    """Replica A has inserted `admin` (not yet committed) when replica B, having counted no
    users, inserts it too: B waits on the unique index, fails when A commits, and must
    carry on (its start-up transaction committed) instead of failing to start."""
    other = ctx.sessions()
    other.add(User(username=DEFAULT_ADMIN, role="admin", password_hash="x"))
    await other.flush()

    async def start_b() -> User | None:
        async with transaction(ctx.sessions) as session:
            return await ensure_admin(session, settings)

    b = asyncio.create_task(start_b())

    async def b_waits_on_a() -> int:
        async with ctx.engine.connect() as conn:
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'INSERT INTO users%'"
                )
            )
        return int(waiting or 0)

    await wait_for(b_waits_on_a, lambda n: n == 1)
    await other.commit()
    await other.close()
    assert await asyncio.wait_for(b, 30) is None
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count(User.id))) == 1
