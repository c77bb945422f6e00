"""The audit trail: what is recorded, redaction, filters, and the hash chain."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from typing import Any

import httpx
from sqlalchemy import delete, select, update

from taichu.audit.models import AuditRecord
from taichu.config import Settings
from taichu.context import AppContext
from tests.conftest import ADMIN_PASSWORD, bearer, login


async def test_mutations_and_logins_are_recorded(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await client.post("/api/v1/auth/login", json={"username": "admin", "password": "bad-guess"})
    created = await client.post(
        "/api/v1/auth/register",
        json={"username": "carol", "password": "s3cret-pass", "email": "c@example.com"},
        headers=admin_headers,
    )
    carol_id = created.json()["data"]["id"]
    await client.put(
        f"/api/v1/users/{carol_id}", json={"email": "carol@example.com"}, headers=admin_headers
    )
    await client.get("/api/v1/users", headers=admin_headers)  # reads are not audited
    response = await client.get("/api/v1/audit?limit=100", headers=admin_headers)
    assert response.status_code == 200
    data = response.json()["data"]
    events = data["events"]
    assert data["total"] == len(events) == 4  # fixture login, failed login, register, update
    expected_fields = {
        "id",
        "event_type",
        "action",
        "resource",
        "resource_id",
        "user",
        "ip_address",
        "old_value",
        "new_value",
        "details",
        "result",
        "timestamp",
    }
    assert all(set(e) == expected_fields for e in events)
    update_event, register_event, failed, _ = events  # newest first
    assert failed["action"] == "login" and failed["result"] == "failure"
    assert failed["user"] == "admin" and failed["ip_address"] == "10.0.0.1"
    assert register_event["action"] == "register" and register_event["user"] == "admin"
    assert register_event["new_value"]["username"] == "carol"
    assert update_event["event_type"] == "user" and update_event["action"] == "update"
    assert update_event["resource_id"] == carol_id
    assert update_event["old_value"] == {"email": "c@example.com", "role": "user"}
    assert update_event["new_value"]["email"] == "carol@example.com"
    assert update_event["timestamp"].endswith("Z")


async def test_secrets_never_reach_the_audit_log(
    client: httpx.AsyncClient, admin_headers: dict[str, str], ctx: AppContext
) -> None:
    secret = "Sup3r-Secret-Value"
    await client.post("/api/v1/auth/register", json={"username": "dave", "password": secret})
    dave = await client.get("/api/v1/users?search=dave", headers=admin_headers)
    dave_id = dave.json()["data"]["users"][0]["id"]
    await client.put(
        f"/api/v1/users/{dave_id}/password",
        json={"old_password": secret, "new_password": secret + "2"},
        headers=bearer(await login(client, "dave", secret)),
    )
    async with ctx.sessions() as session:
        rows = list(await session.scalars(select(AuditRecord)))
    dumped = json.dumps([[r.old_value, r.new_value, r.details] for r in rows])
    assert secret not in dumped
    assert ADMIN_PASSWORD not in dumped


async def test_audit_filters(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    for name in ("erin", "frank"):
        body = {"username": name, "password": "s3cret-pass"}
        await client.post("/api/v1/auth/register", json=body)
    await client.post("/api/v1/auth/login", json={"username": "erin", "password": "wrong-one"})

    async def events(query: str) -> list[dict[str, Any]]:
        response = await client.get(f"/api/v1/audit?{query}", headers=admin_headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]["events"]

    assert {e["user"] for e in await events("action=register")} == {"erin", "frank"}
    failures = await events("result=failure")
    assert [(e["user"], e["action"]) for e in failures] == [("erin", "login")]
    assert len(await events("user=frank")) == 1
    newest = (await events("limit=1"))[0]["timestamp"]
    assert await events(f"start_time={newest}") != []
    assert await events("end_time=2000-01-01T00:00:00Z") == []
    bad = await client.get("/api/v1/audit?start_time=yesterday", headers=admin_headers)
    assert bad.status_code in (400, 422) and "start_time" in bad.json()["message"]
    await client.post("/api/v1/auth/register", json={"username": "gina", "password": "s3cret-pass"})
    gina = bearer(await login(client, "gina", "s3cret-pass"))
    assert (await client.get("/api/v1/audit", headers=gina)).status_code == 403


async def _verify(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TAICHU_DATABASE_URL": settings.resolved_database_url,
        "TAICHU_DATA_DIR": str(settings.data_dir),
        "TAICHU_SECRET_KEY": settings.secret_key or "",
    }
    # In a thread: the app under test shares this event loop and must keep running.
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "taichu.cli", "audit", "verify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_audit_verify_finds_altered_and_removed_records(
    client: httpx.AsyncClient, settings: Settings, ctx: AppContext
) -> None:
    for name in ("hank", "ivan", "judy", "kate"):
        body = {"username": name, "password": "s3cret-pass"}
        await client.post("/api/v1/auth/register", json=body)
    intact = await _verify(settings)
    assert intact.returncode == 0, intact.stderr
    assert "4 records verified" in intact.stderr
    head = re.fullmatch(r"head: (4:[0-9a-f]{64})\n", intact.stdout)
    assert head is not None, intact.stdout

    # The newest record removed: the chain alone cannot tell, the anchor can.
    async with ctx.sessions.begin() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == 4))
    assert (await _verify(settings)).returncode == 0
    truncated = await _verify(settings, "--anchor", head.group(1))
    assert truncated.returncode == 1
    assert "records from 4 on were removed" in truncated.stderr
    forged = await _verify(settings, "--anchor", "3:" + "0" * 64)
    assert forged.returncode == 1 and "does not match the anchor" in forged.stderr
    malformed = await _verify(settings, "--anchor", "three")
    assert malformed.returncode == 2 and "SEQ:HASH" in malformed.stderr
    new_head = re.search(r"head: (3:[0-9a-f]{64})", (await _verify(settings)).stdout)
    assert new_head is not None
    anchored = await _verify(settings, "--anchor", new_head.group(1))
    assert anchored.returncode == 0, anchored.stderr
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(AuditRecord).where(AuditRecord.seq == 2).values(user="someone-else")
        )
    altered = await _verify(settings)
    assert altered.returncode == 1
    assert "seq=2" in altered.stderr and "altered" in altered.stderr
    async with ctx.sessions.begin() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    removed = await _verify(settings)
    assert removed.returncode == 1
    assert "2" in removed.stderr and "removed" in removed.stderr


async def test_oversized_fields_are_still_audited(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    long_name = "x" * 150
    response = await client.post(
        "/api/v1/auth/login", json={"username": long_name, "password": "nope"}
    )
    assert response.status_code == 401
    events = (await client.get("/api/v1/audit?result=failure", headers=admin_headers)).json()
    recorded = events["data"]["events"][0]
    assert recorded["action"] == "login" and recorded["user"].startswith("x" * 60)
    assert len(recorded["user"]) == 64
