"""Test databases: SQLite files or PostgreSQL databases, migrated by Alembic."""

from __future__ import annotations

import os
import uuid

import asyncpg
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from taichu.db.migrate import upgrade_async
from taichu.db.models import metadata

BACKEND = os.environ.get("TAICHU_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "TAICHU_TEST_PG_URL", "postgresql+asyncpg://taichu@127.0.0.1:55432/postgres"
)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_database(tmp_dir: str, label: str, revision: str = "head") -> str:
    """A new, migrated database for one test session (or one test that needs its own)."""
    if BACKEND == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_dir}/taichu-{label}.db"
    else:
        name = f"taichu_t_{label}_{uuid.uuid4().hex[:8]}".lower().replace("-", "_")
        conn = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    await upgrade_async(url, revision)
    return url


async def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def wipe(engine: AsyncEngine) -> None:
    """Empty every table (children first) so each test starts from a clean database."""
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(delete(table))
