"""Finding 16: `Admin`, `ADMIN` and `admin` are one name — in lookups, in registration and in
the database itself; the migration settles clashes that already exist."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from taichu.context import AppContext
from taichu.db.migrate import upgrade_async
from taichu.db.session import make_engine
from taichu.timeutil import utcnow
from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.support.db import create_database, drop_database

USER_COLUMNS = (
    "id",
    "username",
    "role",
    "password_hash",
    "password_change_required",
    "created_at",
    "updated_at",
)
users_table = sa.table("users", *(sa.column(c) for c in USER_COLUMNS))


async def test_usernames_ignore_case(client: httpx.AsyncClient) -> None:
    body = {"username": "Alice", "password": "s3cret-pass"}
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 200
    for name in ("alice", "ALICE", "aLiCe"):
        twin = await client.post(
            "/api/v1/auth/register", json={"username": name, "password": "other-pass-1"}
        )
        assert twin.status_code == 409, twin.text
        assert twin.json()["message"] == f"username '{name}' already exists"
        runtime = await client.post(
            "/api/auth/register/", json={"username": name, "password": "other-pass-1"}
        )
        assert runtime.status_code == 409 and "already exists" in runtime.json()["detail"]
    # Login finds the account whatever the case; the name keeps its own spelling.
    logged_in = await client.post(
        "/api/v1/auth/login", json={"username": "ALICE", "password": "s3cret-pass"}
    )
    assert logged_in.status_code == 200, logged_in.text
    assert logged_in.json()["data"]["user"]["username"] == "Alice"
    admin = await login(client, "ADMIN", ADMIN_PASSWORD)
    users = await client.get("/api/v1/users", headers=bearer(admin))
    assert sorted(u["username"] for u in users.json()["data"]["users"]) == ["Alice", "admin"]


async def test_the_database_refuses_a_case_variant(ctx: AppContext) -> None:
    now = utcnow()
    row = {
        "role": "user",
        "password_hash": "x",
        "password_change_required": False,
        "created_at": now,
        "updated_at": now,
    }
    async with ctx.engine.begin() as conn:
        await conn.execute(users_table.insert().values(id="u-1", username="dave", **row))
    with pytest.raises(IntegrityError):
        async with ctx.engine.begin() as conn:
            await conn.execute(users_table.insert().values(id="u-2", username="DAVE", **row))


async def test_migration_renames_clashing_names_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await create_database(str(tmp_path), "usernames", revision="0005")
    engine = make_engine(url)
    t0 = utcnow()

    def user(id_: str, name: str, minutes: int) -> dict[str, object]:
        at = t0 + timedelta(minutes=minutes)
        return {
            "id": id_,
            "username": name,
            "role": "user",
            "password_hash": "x",
            "password_change_required": False,
            "created_at": at,
            "updated_at": at,
        }

    long = "x" * 64
    rows = [
        user("u-ADMIN", "ADMIN", 2),
        user("u-admin", "admin", 0),  # the oldest keeps its name
        user("u-Admin", "Admin", 1),
        user("u-bob-b", "Bob", 5),
        user("u-bob-a", "bob", 5),  # same instant: the smaller id counts as the older
        user("u-carol", "carol", 0),
        user("u-long", long.upper(), 3),
        user("u-long-0", long, 0),
        user("u-taken", "admin~3", 0),  # a suffix already in use is skipped
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(users_table.insert(), rows)
        await engine.dispose()
        with caplog.at_level(logging.WARNING, logger="taichu.migrations"):
            await upgrade_async(url)
        engine = make_engine(url)
        async with engine.connect() as conn:
            names = dict(
                tuple(r) for r in await conn.execute(sa.text("SELECT id, username FROM users"))
            )
        assert names == {
            "u-admin": "admin",
            "u-Admin": "Admin~2",
            "u-ADMIN": "ADMIN~4",
            "u-bob-a": "bob",
            "u-bob-b": "Bob~2",
            "u-carol": "carol",
            "u-long-0": long,
            "u-long": "X" * 62 + "~2",
            "u-taken": "admin~3",
        }
        messages = [r.getMessage() for r in caplog.records]
        assert any("'Admin' renamed to 'Admin~2'" in m and "'admin'" in m for m in messages)
        assert len([m for m in messages if "renamed to" in m]) == 4
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(users_table.insert(), [user("u-new", "CAROL", 9)])
    finally:
        await engine.dispose()
        await drop_database(url)
