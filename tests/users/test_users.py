"""User management with the permissions of the spec: admin, or the user themself."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import bearer, login


async def _register(client: httpx.AsyncClient, username: str, email: str | None = None) -> str:
    body = {"username": username, "password": "s3cret-pass"}
    if email:
        body["email"] = email
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]["id"]


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    user_id = await _register(client, "alice", "alice@example.com")
    return user_id, bearer(await login(client, "alice", "s3cret-pass"))


async def test_list_users_admin_only_with_filters(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: tuple[str, dict[str, str]]
) -> None:
    for i in range(3):
        await _register(client, f"bob{i}", f"bob{i}@corp.example")
    response = await client.get("/api/v1/users", headers=admin_headers)
    data = response.json()["data"]
    assert response.status_code == 200
    assert data["total"] == 5 and data["page"] == 1 and data["limit"] == 20
    assert {"id", "username", "email", "role", "created_at", "last_login_at"} <= set(
        data["users"][0]
    )
    page = (await client.get("/api/v1/users?page=2&limit=2", headers=admin_headers)).json()
    assert [u["username"] for u in page["data"]["users"]] == ["bob0", "bob1"]
    clamped = (await client.get("/api/v1/users?limit=1000", headers=admin_headers)).json()
    assert clamped["data"]["limit"] == 100
    admins = (await client.get("/api/v1/users?role=admin", headers=admin_headers)).json()
    assert [u["username"] for u in admins["data"]["users"]] == ["admin"]
    found = (await client.get("/api/v1/users?search=CORP", headers=admin_headers)).json()
    assert found["data"]["total"] == 3
    for wildcard in ("%", "_"):  # literal text, not LIKE wildcards matching everyone
        none = await client.get(f"/api/v1/users?search={wildcard}", headers=admin_headers)
        assert none.json()["data"]["total"] == 0, wildcard
    forbidden = await client.get("/api/v1/users", headers=alice[1])
    assert forbidden.status_code == 403 and forbidden.json()["code"] == 403
    bad = await client.get("/api/v1/users?page=0", headers=admin_headers)
    assert bad.status_code == 422 and "page" in bad.json()["message"]


async def test_user_reads_and_updates_only_self(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: tuple[str, dict[str, str]]
) -> None:
    alice_id, alice_headers = alice
    bob_id = await _register(client, "bob")
    own = await client.get(f"/api/v1/users/{alice_id}", headers=alice_headers)
    assert own.status_code == 200
    assert set(own.json()["data"]) >= {
        "id",
        "username",
        "email",
        "role",
        "created_at",
        "updated_at",
        "last_login_at",
    }
    assert own.json()["data"]["last_login_at"].endswith("Z")
    assert (await client.get(f"/api/v1/users/{bob_id}", headers=alice_headers)).status_code == 403
    updated = await client.put(
        f"/api/v1/users/{alice_id}", json={"email": "a@new.example"}, headers=alice_headers
    )
    assert updated.status_code == 200 and updated.json()["data"]["email"] == "a@new.example"
    promote = await client.put(
        f"/api/v1/users/{alice_id}", json={"role": "admin"}, headers=alice_headers
    )
    assert promote.status_code == 403
    other = await client.put(
        f"/api/v1/users/{bob_id}", json={"email": "x@example.com"}, headers=alice_headers
    )
    assert other.status_code == 403
    by_admin = await client.put(
        f"/api/v1/users/{alice_id}", json={"role": "admin"}, headers=admin_headers
    )
    assert by_admin.json()["data"]["role"] == "admin"
    # The role is read from the database, so Alice's existing token is now an admin's.
    assert (await client.get("/api/v1/users", headers=alice_headers)).status_code == 200
    missing = await client.get(
        "/api/v1/users/00000000-0000-4000-8000-000000000000", headers=admin_headers
    )
    assert missing.status_code == 404


async def test_last_admin_cannot_be_deleted_or_demoted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    admin_id = (await client.get("/api/v1/auth/profile", headers=admin_headers)).json()["data"][
        "id"
    ]
    deleted = await client.delete(f"/api/v1/users/{admin_id}", headers=admin_headers)
    assert deleted.status_code == 409 and "last admin" in deleted.json()["message"]
    demoted = await client.put(
        f"/api/v1/users/{admin_id}", json={"role": "user"}, headers=admin_headers
    )
    assert demoted.status_code == 409
    assert (await client.get("/api/v1/auth/profile", headers=admin_headers)).status_code == 200


async def test_delete_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: tuple[str, dict[str, str]]
) -> None:
    alice_id, alice_headers = alice
    bob_id = await _register(client, "bob")
    refused = await client.delete(f"/api/v1/users/{bob_id}", headers=alice_headers)
    assert refused.status_code == 403
    response = await client.delete(f"/api/v1/users/{alice_id}", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["data"] == {"message": "User deleted successfully"}
    assert (await client.get("/api/v1/auth/profile", headers=alice_headers)).status_code == 401
    again = await client.delete(f"/api/v1/users/{alice_id}", headers=admin_headers)
    assert again.status_code == 404


async def test_change_password(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: tuple[str, dict[str, str]]
) -> None:
    alice_id, alice_headers = alice
    url = f"/api/v1/users/{alice_id}/password"
    wrong = await client.put(
        url, json={"old_password": "nope", "new_password": "n3w-secret"}, headers=alice_headers
    )
    assert wrong.status_code == 422 and "old_password" in wrong.json()["message"]
    weak = await client.put(
        url, json={"old_password": "s3cret-pass", "new_password": "short"}, headers=alice_headers
    )
    assert weak.status_code == 422 and "password" in weak.json()["message"]
    ok = await client.put(
        url,
        json={"old_password": "s3cret-pass", "new_password": "n3w-secret"},
        headers=alice_headers,
    )
    assert ok.status_code == 200
    assert ok.json()["data"] == {"message": "Password updated successfully"}
    assert await login(client, "alice", "n3w-secret")
    # An admin resets another user's password without knowing the old one.
    reset = await client.put(url, json={"new_password": "r3set-by-admin"}, headers=admin_headers)
    assert reset.status_code == 200
    assert await login(client, "alice", "r3set-by-admin")
    bob_id = await _register(client, "bob")
    other = await client.put(
        f"/api/v1/users/{bob_id}/password",
        json={"old_password": "s3cret-pass", "new_password": "h4cked-pass"},
        headers=bearer(await login(client, "alice", "r3set-by-admin")),
    )
    assert other.status_code == 403


async def test_a_password_change_ends_the_other_sessions(
    client: httpx.AsyncClient, admin_headers: dict[str, str], alice: tuple[str, dict[str, str]]
) -> None:
    alice_id, changer = alice
    other = bearer(await login(client, "alice", "s3cret-pass"))  # e.g. a stolen token
    url, profile = f"/api/v1/users/{alice_id}/password", "/api/v1/auth/profile"
    changed = await client.put(
        url, headers=changer, json={"old_password": "s3cret-pass", "new_password": "n3w-secret"}
    )
    assert changed.status_code == 200
    assert (await client.get(profile, headers=changer)).status_code == 200  # kept
    stale = await client.get(profile, headers=other)
    assert stale.status_code == 401 and "password was changed" in stale.json()["message"]
    assert (await client.get("/api/auth/me/", headers=other)).status_code == 401
    token = other["Authorization"].removeprefix("Bearer ")
    assert (await client.post("/api/v1/auth/refresh", json={"token": token})).status_code == 401
    fresh = bearer(await login(client, "alice", "n3w-secret"))
    assert (await client.get(profile, headers=fresh)).status_code == 200

    # An admin's reset ends every session of the user, the one that changed it too.
    reset = await client.put(url, json={"new_password": "r3set-by-admin"}, headers=admin_headers)
    assert reset.status_code == 200
    for headers in (changer, fresh):
        assert (await client.get(profile, headers=headers)).status_code == 401
    assert (await client.get(profile, headers=admin_headers)).status_code == 200
