"""The operator's commands: migrate and admin reset-password, as processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import text

from taichu.config import Settings
from taichu.context import AppContext
from taichu.db.migrate import alembic_config
from tests.conftest import ADMIN_PASSWORD


async def _taichu(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    env.update(
        {
            "TAICHU_DATABASE_URL": settings.resolved_database_url,
            "TAICHU_DATA_DIR": str(settings.data_dir),
            "TAICHU_SECRET_KEY": settings.secret_key or "",
        }
    )
    # In a thread: an app under test may share this event loop.
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "taichu.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_reset_password(client: httpx.AsyncClient, settings: Settings) -> None:
    result = await _taichu(
        settings, "admin", "reset-password", "admin", "--password", "Recovered-Pass-9"
    )
    assert result.returncode == 0, result.stderr
    assert "password of admin updated" in result.stderr
    old = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": "Recovered-Pass-9"}
    )
    assert new.status_code == 200
    missing = await _taichu(
        settings, "admin", "reset-password", "ghost", "--password", "Recovered-Pass-9"
    )
    assert missing.returncode == 1 and "not found" in missing.stderr
    weak = await _taichu(settings, "admin", "reset-password", "admin", "--password", "123")
    assert weak.returncode == 1 and "password" in weak.stderr
    headers = {"Authorization": f"Bearer {new.json()['data']['token']}"}
    audit = await client.get("/api/v1/audit?action=password", headers=headers)
    assert audit.json()["data"]["events"][0]["details"] == {"via": "taichu admin reset-password"}


async def test_migrate_creates_the_schema(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    result = await _taichu(settings, "migrate")
    assert result.returncode == 0, result.stderr
    ctx = AppContext.create(settings)
    try:
        async with ctx.engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            tables = (
                await conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'table'"))
            ).scalar()
    finally:
        await ctx.close()
    heads = ScriptDirectory.from_config(alembic_config(settings.resolved_database_url)).get_heads()
    assert version in heads
    assert tables and tables >= 10
    again = await _taichu(settings, "migrate")  # idempotent
    assert again.returncode == 0
