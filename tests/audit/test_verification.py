"""`POST/GET /api/v1/audit/verification`: the chain verified by a job of a real server,
its outcome read back over HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, update

from taichu.audit.models import AuditRecord
from taichu.audit.verification import VERIFY_KEY, VERIFY_KIND
from taichu.config import Settings
from taichu.context import AppContext
from taichu.jobs.models import Job
from taichu.timeutil import utcnow
from tests.support.server import ServerProcess, free_port, server_env
from tests.support.waiting import wait_for

ADMIN_PASSWORD = "Admin-Pass-2026"
FIELDS = {
    "job_id",
    "status",
    "progress",
    "error_message",
    "created_at",
    "started_at",
    "finished_at",
    "intact",
    "records_checked",
    "head_seq",
    "first_bad_seq",
    "reason",
}


async def _token(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


async def _verified(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """Start a verification and wait for it to complete; returns the GET's data."""
    started = await client.post("/api/v1/audit/verification", headers=admin)
    assert started.status_code == 200, started.text
    job_id = started.json()["data"]["job_id"]
    assert started.json()["data"]["status"] == "pending"

    async def latest() -> dict[str, Any]:
        response = await client.get("/api/v1/audit/verification", headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    done = await wait_for(latest, lambda d: d["job_id"] == job_id and d["status"] == "completed")
    assert set(done) == FIELDS
    assert done["started_at"].endswith("Z") and done["finished_at"].endswith("Z")
    return done


async def test_the_chain_is_verified_by_a_job_over_http(
    settings: Settings, ctx: AppContext, tmp_path: Path
) -> None:
    env = server_env(
        settings.resolved_database_url,
        settings.data_dir,
        TAICHU_SECRET_KEY="verification-test-secret-0123456789abcdef",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    server = ServerProcess(env, free_port(), tmp_path / "server.log")
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            admin = await _token(client, "admin", ADMIN_PASSWORD)
            none_yet = await client.get("/api/v1/audit/verification", headers=admin)
            assert none_yet.status_code == 200 and none_yet.json()["data"] is None
            for name in ("hank", "ivan", "judy"):
                body = {"username": name, "password": "s3cret-pass"}
                assert (await client.post("/api/v1/auth/register", json=body)).status_code == 200

            user = await _token(client, "hank", "s3cret-pass")
            assert (
                await client.post("/api/v1/audit/verification", headers=user)
            ).status_code == 403
            assert (await client.get("/api/v1/audit/verification", headers=user)).status_code == 403

            intact = await _verified(client, admin)
            # admin login, 3 registrations, hank's login (the 403s are not audited as
            # changes), this verification's own POST
            assert intact["intact"] is True, intact
            assert intact["records_checked"] >= 5
            assert intact["head_seq"] == intact["records_checked"]
            assert intact["first_bad_seq"] is None and intact["reason"] is None
            assert intact["progress"] == 100

            async with ctx.sessions.begin() as session:
                await session.execute(
                    update(AuditRecord).where(AuditRecord.seq == 2).values(user="someone-else")
                )
            broken = await _verified(client, admin)
            assert broken["intact"] is False
            assert broken["first_bad_seq"] == 2
            assert "altered" in broken["reason"]
            assert broken["records_checked"] == 1 and broken["head_seq"] == 1

            # One running (held: leased to no worker of this server) -> a second is 409.
            async with ctx.sessions.begin() as session:
                session.add(
                    Job(
                        kind=VERIFY_KIND,
                        payload={},
                        status="running",
                        dedup_key=VERIFY_KEY,
                        attempts=1,
                        max_attempts=1,
                        locked_by="held-by-test",
                        locked_until=utcnow() + timedelta(hours=1),
                        started_at=utcnow(),
                        progress=40.0,
                    )
                )
            running = await client.get("/api/v1/audit/verification", headers=admin)
            assert running.json()["data"]["status"] == "in_progress"
            assert running.json()["data"]["progress"] == 40.0
            assert running.json()["data"]["intact"] is None
            refused = await client.post("/api/v1/audit/verification", headers=admin)
            assert refused.status_code == 409, refused.text
            assert "in_progress" in refused.json()["message"]
            async with ctx.sessions.begin() as session:
                await session.execute(delete(Job).where(Job.locked_by == "held-by-test"))
    finally:
        server.kill()
