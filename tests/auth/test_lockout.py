"""Finding 6: failed logins lock out a (user, address) pair and a guessing address, never
an account everywhere; admins clear locks (API and CLI), every step audited."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from taichu.audit.models import AuditRecord
from taichu.config import Settings
from taichu.context import AppContext
from tests.auth.conftest import ClientAt
from tests.conftest import ADMIN_PASSWORD, bearer
from tests.support.server import (
    drop_prepared_database,
    prepare_database,
    running_server,
    server_env,
)
from tests.test_cli import _taichu

AppAt = Callable[[Settings], Awaitable[ClientAt]]
# Slow-down out of the way: these tests are about locks.
LOCKS = {"login_max_failures": 3, "login_address_max_failures": 6, "login_slowdown_after": 100}
WRONG = {"username": "admin", "password": "not-the-password"}
RIGHT = {"username": "admin", "password": ADMIN_PASSWORD}


async def _login_records(ctx: AppContext) -> list[AuditRecord]:
    async with ctx.sessions() as session:
        query = select(AuditRecord).where(AuditRecord.action == "login").order_by(AuditRecord.seq)
        return list(await session.scalars(query))


async def test_failures_from_one_address_do_not_lock_the_owner_out(
    app_at: AppAt, make_settings: Any, ctx: AppContext
) -> None:
    client_at = await app_at(make_settings(auth=LOCKS))
    attacker, owner = client_at("10.0.0.66"), client_at("10.0.0.1")
    for _ in range(3):
        assert (await attacker.post("/api/v1/auth/login", json=WRONG)).status_code == 401
    # The guessing address is refused, even with the right password ...
    refused = await attacker.post("/api/v1/auth/login", json=RIGHT)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    # ... while the owner, from an address that has not been failing, logs in.
    accepted = await owner.post("/api/v1/auth/login", json=RIGHT)
    assert accepted.status_code == 200, accepted.text
    runtime = await owner.post("/api/auth/login/", json=RIGHT)
    assert runtime.status_code == 200, runtime.text
    records = await _login_records(ctx)
    assert [(r.ip_address, r.status_code) for r in records] == [
        ("10.0.0.66", 401),
        ("10.0.0.66", 401),
        ("10.0.0.66", 401),
        ("10.0.0.66", 429),
        ("10.0.0.1", 200),
        ("10.0.0.1", 200),
    ]
    assert records[3].details["reason"] == "too many failed logins"
    assert all(r.user == "admin" for r in records)


async def test_one_address_guessing_many_accounts_is_refused(
    app_at: AppAt, make_settings: Any
) -> None:
    client_at = await app_at(make_settings(auth=LOCKS))
    sprayer, other = client_at("10.0.0.9"), client_at("10.0.0.10")
    for i in range(6):  # below the per-pair limit for each name, over the address limit
        body = {"username": f"ghost{i}", "password": "x"}
        assert (await sprayer.post("/api/v1/auth/login", json=body)).status_code == 401
    assert (await sprayer.post("/api/v1/auth/login", json=RIGHT)).status_code == 429
    assert (await other.post("/api/v1/auth/login", json=RIGHT)).status_code == 200


async def test_distributed_guessing_is_slowed_but_never_locks_the_owner(
    app_at: AppAt, make_settings: Any
) -> None:
    cap = 0.6
    rules = {**LOCKS, "login_slowdown_after": 2, "login_slowdown_max_seconds": cap}
    client_at = await app_at(make_settings(auth=rules))
    durations = []
    for i in range(8):  # one failure from each of eight addresses: no pair reaches its limit
        started = time.perf_counter()
        response = await client_at(f"10.0.1.{i}").post("/api/v1/auth/login", json=WRONG)
        durations.append(time.perf_counter() - started)
        assert response.status_code == 401
    # Once the account has failed often, each attempt waits (capped) before its verdict.
    assert min(durations[4:]) >= cap, durations
    started = time.perf_counter()
    owner = await client_at("10.0.2.1").post("/api/v1/auth/login", json=RIGHT)
    assert owner.status_code == 200, owner.text
    assert time.perf_counter() - started >= cap  # slowed, not refused


async def _register_and_lock(client_at: ClientAt, name: str, address: str) -> str:
    client = client_at("10.0.0.1")
    created = await client.post(
        "/api/v1/auth/register", json={"username": name, "password": "s3cret-pass"}
    )
    assert created.status_code == 200, created.text
    for _ in range(3):
        bad = await client_at(address).post(
            "/api/v1/auth/login", json={"username": name, "password": "wrong-pass-1"}
        )
        assert bad.status_code == 401
    locked = await client_at(address).post(
        "/api/v1/auth/login", json={"username": name, "password": "s3cret-pass"}
    )
    assert locked.status_code == 429
    return str(created.json()["data"]["id"])


async def test_admin_endpoint_unlocks_a_user(
    app_at: AppAt, make_settings: Any, ctx: AppContext
) -> None:
    client_at = await app_at(make_settings(auth=LOCKS))
    admin = client_at("10.0.0.1")
    token = (await admin.post("/api/v1/auth/login", json=RIGHT)).json()["data"]["token"]
    alice_id = await _register_and_lock(client_at, "alice", "10.0.0.70")
    bob_id = await _register_and_lock(client_at, "bob", "10.0.0.71")
    alice = await client_at("10.0.0.1").post(
        "/api/v1/auth/login", json={"username": "alice", "password": "s3cret-pass"}
    )
    forbidden = await admin.post(
        f"/api/v1/users/{bob_id}/unlock", headers=bearer(alice.json()["data"]["token"])
    )
    assert forbidden.status_code == 403 and forbidden.json()["code"] == 403
    done = await admin.post(f"/api/v1/users/{alice_id}/unlock", headers=bearer(token))
    assert done.status_code == 200, done.text
    assert done.json()["data"]["message"] == "Login locks of alice cleared"
    again = await client_at("10.0.0.70").post(
        "/api/v1/auth/login", json={"username": "alice", "password": "s3cret-pass"}
    )
    assert again.status_code == 200, again.text
    # Only that user's locks: bob stays locked at his address.
    still = await client_at("10.0.0.71").post(
        "/api/v1/auth/login", json={"username": "bob", "password": "s3cret-pass"}
    )
    assert still.status_code == 429
    missing = await admin.post("/api/v1/users/no-such-id/unlock", headers=bearer(token))
    assert missing.status_code == 404
    async with ctx.sessions() as session:
        unlocks = list(
            await session.scalars(
                select(AuditRecord).where(AuditRecord.action == "unlock").order_by(AuditRecord.seq)
            )
        )
    assert [(r.status_code, r.resource, r.resource_id) for r in unlocks] == [
        (403, "user", bob_id),
        (200, "user", alice_id),
        (404, "user", "no-such-id"),
    ]
    assert unlocks[1].user == "admin" and unlocks[1].details["cleared"] >= 1


async def test_cli_unlocks_a_user(
    app_at: AppAt, make_settings: Any, ctx: AppContext, settings: Settings
) -> None:
    client_at = await app_at(make_settings(auth=LOCKS))
    await _register_and_lock(client_at, "carol", "10.0.0.80")
    result = await _taichu(settings, "admin", "unlock", "CAROL")
    assert result.returncode == 0, result.stderr
    assert "login locks of carol cleared" in result.stderr
    response = await client_at("10.0.0.80").post(
        "/api/v1/auth/login", json={"username": "carol", "password": "s3cret-pass"}
    )
    assert response.status_code == 200, response.text
    missing = await _taichu(settings, "admin", "unlock", "nobody")
    assert missing.returncode == 1 and "not found" in missing.stderr
    async with ctx.sessions() as session:
        record = await session.scalar(select(AuditRecord).where(AuditRecord.action == "unlock"))
    assert record is not None and record.user == "cli"
    assert record.details["via"] == "taichu admin unlock"


def test_lockout_over_a_real_server(tmp_path: Path) -> None:
    """The same over TCP: two loopback source addresses are two clients to the server."""
    url = prepare_database(tmp_path, "lockout")
    env = server_env(
        url,
        tmp_path / "data",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY="lockout-secret-0123456789abcdef",
        TAICHU_AUTH__LOGIN_MAX_FAILURES="3",
        TAICHU_AUTH__LOGIN_SLOWDOWN_AFTER="100",
    )
    try:
        with running_server(env, tmp_path / "server.log") as server:

            def client(address: str) -> httpx.Client:
                transport = httpx.HTTPTransport(local_address=address)
                return httpx.Client(base_url=server.url, transport=transport, timeout=30)

            with client("127.0.0.2") as attacker, client("127.0.0.3") as owner:
                for _ in range(3):
                    assert attacker.post("/api/v1/auth/login", json=WRONG).status_code == 401
                assert attacker.post("/api/v1/auth/login", json=RIGHT).status_code == 429
                assert owner.post("/api/v1/auth/login", json=RIGHT).status_code == 200
    finally:
        drop_prepared_database(url)
