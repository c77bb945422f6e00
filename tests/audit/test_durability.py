"""The audit record is part of the change it describes: it survives a crash with it, and
a change whose record cannot be written does not happen."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from taichu.audit.models import AuditRecord
from taichu.config import Settings
from taichu.context import AppContext
from taichu.users.models import User
from tests.support.db import BACKEND
from tests.support.server import ServerProcess, free_port, server_env
from tests.support.waiting import wait_for

SECRET = "durability-test-secret-0123456789abcdef"
BURST = 60
KILL_AFTER = 10  # acknowledged registrations before the SIGKILL


def _env(settings: Settings) -> dict[str, str]:
    return server_env(
        settings.resolved_database_url,
        settings.data_dir,
        TAICHU_SECRET_KEY=SECRET,
        TAICHU_ADMIN_PASSWORD="Admin-Pass-2026",
    )


def run_verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taichu.cli", "audit", "verify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _register_burst(server: ServerProcess, acked: list[str]) -> None:
    async def one(client: httpx.AsyncClient, name: str) -> None:
        try:
            response = await client.post(
                "/api/v1/auth/register", json={"username": name, "password": "s3cret-pass"}
            )
        except httpx.HTTPError:
            return  # the server died before answering: not acknowledged
        if 200 <= response.status_code < 300:
            acked.append(name)

    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(one(client, f"burst{i:03d}") for i in range(BURST)))


async def test_every_acknowledged_change_has_its_record_after_a_sigkill(
    settings: Settings, ctx: AppContext, tmp_path: Path
) -> None:
    env = _env(settings)
    server = ServerProcess(env, free_port(), tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    acked: list[str] = []
    burst = asyncio.create_task(_register_burst(server, acked))
    try:
        await wait_for(lambda: len(acked), lambda n: n >= KILL_AFTER, timeout=120, interval=0.01)
        await asyncio.to_thread(server.kill)  # SIGKILL, mid-burst
        await asyncio.wait_for(burst, timeout=90)
    finally:
        await asyncio.to_thread(server.kill)
        burst.cancel()
    assert len(acked) < BURST, "the burst finished before the kill: nothing was tested"
    async with ctx.read_sessions() as session:
        audited = set(
            await session.scalars(select(AuditRecord.user).where(AuditRecord.action == "register"))
        )
        stored = set(await session.scalars(select(User.username)))
    missing = [name for name in acked if name not in audited]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged registrations unaudited"
    # A record never exists without its change either.
    assert {n for n in audited if n and n.startswith("burst")} <= stored
    verified = await asyncio.to_thread(run_verify, env)
    assert verified.returncode == 0, verified.stderr


_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_records "
        "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'audit storage unavailable'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_records "
        "FOR EACH ROW EXECUTE FUNCTION audit_down()",
    ],
}
_DROP = {
    "sqlite": ["DROP TRIGGER audit_down"],
    "postgresql": ["DROP TRIGGER audit_down ON audit_records", "DROP FUNCTION audit_down()"],
}


async def test_a_change_whose_audit_record_cannot_be_written_is_refused(
    settings: Settings, ctx: AppContext, tmp_path: Path
) -> None:
    dialect = ctx.engine.dialect.name
    server = ServerProcess(_env(settings), free_port(), tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    try:
        async with ctx.engine.begin() as conn:
            for statement in _TRIGGERS[dialect]:
                await conn.execute(text(statement))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            refused = await client.post(
                "/api/v1/auth/register", json={"username": "unaudited", "password": "s3cret-pass"}
            )
            runtime = await client.post(
                "/api/auth/register/", json={"username": "unaudited2", "password": "s3cret-pass"}
            )
            login = await client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": "Admin-Pass-2026"}
            )
        message = "The audit log cannot be written: nothing was changed"
        assert refused.status_code == 503, refused.text
        assert refused.json() == {"code": 503, "message": message, "data": None}
        assert runtime.status_code == 503 and runtime.json() == {"detail": message}
        assert login.status_code == 503, login.text  # no token without its audit record
        async with ctx.read_sessions() as session:
            names = set(await session.scalars(select(User.username)))
            last_login = await session.scalar(
                select(User.last_login_at).where(User.username == "admin")
            )
        assert "unaudited" not in names and "unaudited2" not in names
        assert last_login is None
        assert "could not write audit record" in server.log()
    finally:
        await asyncio.to_thread(server.kill)
        async with ctx.engine.begin() as conn:
            for statement in _DROP[dialect]:
                await conn.execute(text(statement))


@pytest.mark.skipif(BACKEND == "sqlite", reason="replicas share PostgreSQL only")
async def test_two_replicas_appending_at_once_keep_one_chain(
    settings: Settings, ctx: AppContext, tmp_path: Path
) -> None:
    env = _env(settings)
    servers = [ServerProcess(env, free_port(), tmp_path / f"server{i}.log") for i in range(2)]
    for server in servers:
        await asyncio.to_thread(server.start)
    try:

        async def burst(server: ServerProcess, prefix: str) -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                answers = await asyncio.gather(
                    *(
                        client.post(
                            "/api/v1/auth/register",
                            json={"username": f"{prefix}user{i:02d}", "password": "s3cret-pass"},
                        )
                        for i in range(12)
                    )
                )
            return [a.status_code for a in answers]

        results = await asyncio.gather(burst(servers[0], "a"), burst(servers[1], "b"))
        assert all(code == 200 for codes in results for code in codes), results
    finally:
        for server in servers:
            await asyncio.to_thread(server.kill)
    async with ctx.read_sessions() as session:
        count = await session.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()))
    assert count == 24
    verified = await asyncio.to_thread(run_verify, env)
    assert verified.returncode == 0, verified.stderr
    assert f"{count} records verified" in verified.stderr
