"""Registration rules and the first-start admin."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.conftest import bearer, login


async def test_register_creates_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"username": "newuser", "email": "newuser@example.com", "password": "s3cret-pass"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"id", "username", "email", "role", "created_at"}
    assert data["role"] == "user" and data["email"] == "newuser@example.com"
    assert data["created_at"].endswith("Z")
    token = await login(client, "newuser", "s3cret-pass")
    assert token


async def test_self_registration_never_grants_admin(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = {"username": "mallory", "password": "s3cret-pass", "role": "admin"}
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 403
    assert "admin" in response.json()["message"]
    # A regular user's token does not help either.
    await client.post("/api/v1/auth/register", json={"username": "eve", "password": "s3cret-pass"})
    eve = await login(client, "eve", "s3cret-pass")
    response = await client.post("/api/v1/auth/register", json=body, headers=bearer(eve))
    assert response.status_code == 403
    # An admin may.
    response = await client.post("/api/v1/auth/register", json=body, headers=admin_headers)
    assert response.status_code == 200 and response.json()["data"]["role"] == "admin"


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"username": "ab", "password": "s3cret-pass"}, 422, "username"),
        ({"username": "bad name", "password": "s3cret-pass"}, 422, "username"),
        ({"username": "shorty", "password": "a1"}, 422, "password"),
        ({"username": "digits", "password": "12345678"}, 422, "password"),
        ({"username": "mailer", "password": "s3cret-pass", "email": "not-an-email"}, 422, "email"),
        ({"username": "roles", "password": "s3cret-pass", "role": "root"}, 422, "role"),
        ({"password": "s3cret-pass"}, 400, "username"),
        ({"username": "extra", "password": "s3cret-pass", "is_admin": True}, 400, "is_admin"),
    ],
)
async def test_register_rejects_bad_input(
    client: httpx.AsyncClient, payload: dict[str, Any], status: int, fragment: str
) -> None:
    response = await client.post("/api/v1/auth/register", json=payload)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]


async def test_duplicate_username_is_409(client: httpx.AsyncClient) -> None:
    body = {"username": "twice", "password": "s3cret-pass"}
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 200
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 409 and "twice" in response.json()["message"]


async def test_registration_can_be_disabled(start_app: Any, make_settings: Any) -> None:
    client = await start_app(make_settings(allow_registration=False))
    body = {"username": "latecomer", "password": "s3cret-pass"}
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 403 and "disabled" in response.json()["message"]
    runtime = await client.post("/api/auth/register/", json=body)
    assert runtime.status_code == 403 and "disabled" in runtime.json()["detail"]


async def test_default_admin_must_change_password(
    start_app: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="taichu.users"):
        client = await start_app(make_settings(admin_password=None))
    assert any("default password" in r.getMessage() for r in caplog.records)
    token = await login(client, "admin", "admin")
    profile = (await client.get("/api/v1/auth/profile", headers=bearer(token))).json()["data"]
    assert profile["password_change_required"] is True
    changed = await client.put(
        f"/api/v1/users/{profile['id']}/password",
        json={"old_password": "admin", "new_password": "Better-Pass-1"},
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    profile = (await client.get("/api/v1/auth/profile", headers=bearer(token))).json()["data"]
    assert profile["password_change_required"] is False
    assert await login(client, "admin", "Better-Pass-1")


async def test_configured_admin_password_needs_no_change(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    profile = await client.get("/api/v1/auth/profile", headers=admin_headers)
    assert profile.json()["data"]["password_change_required"] is False
    assert (
        await client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin"})
    ).status_code == 401
