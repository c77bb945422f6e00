"""Login, throttling and the runtime family's auth endpoints, over HTTP on a real database."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from taichu.audit.models import AuditRecord
from taichu.auth import throttle
from taichu.context import AppContext
from tests.conftest import ADMIN_PASSWORD, bearer, login


async def test_login_returns_token_and_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["message"] == "success"
    data = body["data"]
    assert data["expires_in"] == 86400
    assert data["token"].count(".") == 2
    assert data["user"]["username"] == "admin"
    assert data["user"]["role"] == "admin"
    assert set(data["user"]) >= {"id", "username", "email", "role"}


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"username": "admin", "password": "wrong-password"}, 401, "Invalid username or password"),
        ({"username": "nobody", "password": "whatever-123"}, 401, "Invalid username or password"),
        ({"username": "admin"}, 400, "password"),
        ({"username": 5, "password": "x"}, 400, "username"),
    ],
)
async def test_login_failures_are_enveloped(
    client: httpx.AsyncClient, payload: dict[str, Any], status: int, fragment: str
) -> None:
    response = await client.post("/api/v1/auth/login", json=payload)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == status and body["data"] is None
    assert fragment in body["message"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert "JSON" in response.json()["message"]


async def test_repeated_failures_are_slowed_then_refused_and_audited(
    start_app: Any, make_settings: Any, ctx: AppContext
) -> None:
    settings = make_settings(
        auth={"login_max_failures": 4, "login_slowdown_after": 1, "login_lockout_seconds": 60}
    )
    client = await start_app(settings)
    bad = {"username": "admin", "password": "not-the-password"}
    durations = []
    for _ in range(4):
        started = time.perf_counter()
        assert (await client.post("/api/v1/auth/login", json=bad)).status_code == 401
        durations.append(time.perf_counter() - started)
    # Failures past the slow-down threshold wait (1 s for the fourth) before answering.
    floor = throttle.slowdown_seconds(4, settings.auth)
    assert floor == 1.0 and durations[3] >= floor, durations
    refused = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.json()["code"] == 429
    async with ctx.sessions() as session:
        records = list(
            await session.scalars(
                select(AuditRecord).where(AuditRecord.action == "login").order_by(AuditRecord.seq)
            )
        )
    assert [r.result for r in records] == ["failure"] * 5
    assert records[-1].status_code == 429
    assert records[-1].user == "admin"
    assert records[-1].details["reason"] == "too many failed logins"
    assert all(r.ip_address == "10.0.0.1" for r in records)


async def test_runtime_register_login_me(client: httpx.AsyncClient) -> None:
    registered = await client.post(
        "/api/auth/register/", json={"username": "user123", "password": "password123"}
    )
    assert registered.status_code == 200, registered.text
    body = registered.json()
    assert set(body) == {"token", "user"}
    assert body["user"]["username"] == "user123"
    uuid = body["user"]["uuid"]
    logged_in = await client.post(
        "/api/auth/login/", json={"username": "user123", "password": "password123"}
    )
    assert logged_in.status_code == 200
    token = logged_in.json()["token"]
    me = await client.get("/api/auth/me/", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["uuid"] == uuid and me.json()["role"] == "user"
    # The same JWT works on the /api/v1 family.
    profile = await client.get("/api/v1/auth/profile", headers=bearer(token))
    assert profile.json()["data"]["id"] == uuid


async def test_runtime_errors_use_detail(client: httpx.AsyncClient) -> None:
    missing = await client.post("/api/auth/login/", json={"username": "x"})
    assert missing.status_code == 400
    assert "password" in missing.json()["detail"]
    wrong = await client.post("/api/auth/login/", json={"username": "x", "password": "y"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid username or password"}
    unauth = await client.get("/api/auth/me/")
    assert unauth.status_code == 401 and "detail" in unauth.json()


async def test_v1_token_works_on_runtime_family(client: httpx.AsyncClient) -> None:
    token = await login(client, "admin", ADMIN_PASSWORD)
    me = await client.get("/api/auth/me/", headers=bearer(token))
    assert me.status_code == 200 and me.json()["username"] == "admin"
