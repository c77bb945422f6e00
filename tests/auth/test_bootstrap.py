"""Finding 10: while the bootstrap password (`admin`/`admin`) is in use, only login, the
profile, logout and the password change answer; everything else says what to do first."""

from __future__ import annotations

from typing import Any

from tests.conftest import bearer, login


async def test_bootstrap_admin_can_only_change_its_password(
    start_app: Any, make_settings: Any
) -> None:
    client = await start_app(make_settings(admin_password=None))
    token = await login(client, "admin", "admin")
    headers = bearer(token)
    profile = await client.get("/api/v1/auth/profile", headers=headers)
    assert profile.status_code == 200
    admin_id = profile.json()["data"]["id"]
    assert profile.json()["data"]["password_change_required"] is True
    me = await client.get("/api/auth/me/", headers=headers)
    assert me.status_code == 200 and me.json()["username"] == "admin"
    todo = f"change the bootstrap password first: PUT /api/v1/users/{admin_id}/password"
    new_user = {"username": "operator", "password": "First-Pass-1"}
    refused = [
        ("GET", "/api/v1/users", None),
        ("GET", f"/api/v1/users/{admin_id}", None),
        ("PUT", f"/api/v1/users/{admin_id}", {"email": "root@example.com"}),
        ("GET", "/api/v1/clusters", None),
        ("GET", "/api/v1/audit", None),
        ("POST", "/api/v1/auth/register", new_user),
        ("POST", "/api/v1/users/no-such-id/unlock", None),
        ("PUT", "/api/v1/users/no-such-id/password", {"new_password": "Other-Pass-2"}),
    ]
    for method, path, body in refused:
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status_code == 403, (path, response.text)
        assert response.json() == {"code": 403, "message": todo, "data": None}, path
    runtime = [
        ("GET", "/api/runtime/clusters/", None),
        ("POST", "/api/runtime/clusters/register/", {"name": "x", "api_server": "10.0.0.1"}),
        ("POST", "/api/auth/register/", new_user),
    ]
    for method, path, body in runtime:
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status_code == 403, (path, response.text)
        assert response.json() == {"detail": todo}, path

    changed = await client.put(
        f"/api/v1/users/{admin_id}/password",
        headers=headers,
        json={"old_password": "admin", "new_password": "Better-Pass-1"},
    )
    assert changed.status_code == 200, changed.text
    # Full powers from now on, in this session too.
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 200
    assert (await client.get("/api/runtime/clusters/", headers=headers)).status_code == 200
    created = await client.post("/api/v1/auth/register", headers=headers, json=new_user)
    assert created.status_code == 200, created.text
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 200


async def test_bootstrap_session_can_log_out(start_app: Any, make_settings: Any) -> None:
    client = await start_app(make_settings(admin_password=None))
    token = await login(client, "admin", "admin")
    out = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert out.status_code == 200, out.text
    assert (await client.get("/api/v1/auth/profile", headers=bearer(token))).status_code == 401
