"""Findings 10, 16 and 18 of the hardening issue, over HTTP against a running `taichu serve`
(on SQLite or PostgreSQL, as TAICHU_TEST_DB says):

- 18: a token signed with the installation's real key but with absurd times (`exp` of
  10^18) and plain garbage are 401 in the family's shape, with our own sentence, never a
  500 or a library's exception text;
- 16: usernames are one account whatever their case: registration refuses case variants
  (also when they race), login finds the account whatever the case, and `taichu migrate`
  says which clashing accounts it renamed, whose owners then log in with the new name;
- 10: on the bootstrap password (admin/admin) every operation of the server's own OpenAPI
  document refuses with what to do first, except login, profile, `me`, logout and the
  password change; after the change the same session has full powers.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher

from taichu.crypto import derive_key
from taichu.db.base import UTCDateTime
from taichu.db.session import make_engine
from taichu.timeutil import utcnow
from tests.api.conftest import EDGE_ADMIN_PASSWORD, EDGE_SECRET_KEY
from tests.support.db import create_database, drop_database
from tests.support.server import ServerProcess, login_token, running_server, server_env

# What a message must never quote: exception classes, tracebacks, the JWT library, the
# datetime overflow behind finding 18.
LIBRARY_TEXT = re.compile(
    r"[A-Za-z]+Error\b|Exception|Traceback|File \"|jwt\.|PyJWT|overflow|out of range|"
    r"fromtimestamp|year \d",
    re.IGNORECASE,
)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _is_runtime(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/v1")


def _error(path: str, status: int, message: str) -> dict[str, Any]:
    """An error body in the shape of the path's family."""
    if _is_runtime(path):
        return {"detail": message}
    return {"code": status, "message": message, "data": None}


def _message(path: str, body: dict[str, Any]) -> str:
    return str(body["detail"] if _is_runtime(path) else body["message"])


def _register(base_url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={"username": username, "password": password},
        timeout=30,
    )


def _login(base_url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )


# --- finding 18 -----------------------------------------------------------------------------

TOKEN_ROUTES = ("/api/v1/auth/profile", "/api/runtime/clusters/")


def test_absurd_and_garbage_tokens_are_401_with_our_own_words(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server()
    good = login_token(server.url, "admin", EDGE_ADMIN_PASSWORD)
    claims = jwt.decode(good, options={"verify_signature": False})
    # The key the server signs with: HKDF of its TAICHU_SECRET_KEY (taichu/crypto.py).
    key = derive_key(server.env["TAICHU_SECRET_KEY"].encode(), "jwt-signing")

    def forged(**changes: Any) -> str:
        return jwt.encode({**claims, **changes}, key, algorithm="HS256")

    with httpx.Client(base_url=server.url, timeout=30) as client:
        # The control: re-signed with our key and sane claims, the token is accepted, so
        # the refusals below are about the claims, not the signature.
        control = forged(exp=claims["exp"] - 60)
        for path in TOKEN_ROUTES:
            response = client.get(path, headers=_bearer(control))
            assert response.status_code == 200, (path, response.text)

        malformed = "Invalid token: malformed claims"
        cases = [
            (forged(exp=10**18), malformed),  # the finding: this was a 500
            (forged(exp=2**63), malformed),
            (forged(exp=10**30), malformed),
            (forged(iat=10**18), None),
            (forged(nbf=10**18), None),
            ("not-a-jwt", "Invalid token: not a JWT"),
            ("a.b.c", "Invalid token: not a JWT"),
            ("eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.garbage-signature", None),
        ]
        for token, expected in cases:
            for path in TOKEN_ROUTES:
                response = client.get(path, headers=_bearer(token))
                assert response.status_code == 401, (token, path, response.text)
                assert response.headers["content-type"].startswith("application/json")
                body = response.json()
                message = _message(path, body)
                assert body == _error(path, 401, message), (path, body)
                assert message.startswith("Invalid token: "), (token, path, message)
                assert not LIBRARY_TEXT.search(message), (token, path, message)
                if expected is not None:
                    assert message == expected, (token, path, message)

        # The server took none of it for a crash, and still serves the real token.
        assert client.get(TOKEN_ROUTES[0], headers=_bearer(good)).status_code == 200
    assert server.proc is not None and server.proc.poll() is None
    assert "Traceback" not in server.log()


# --- finding 16 -----------------------------------------------------------------------------

MALLORY_PASSWORD = "Mallory-Pass-2026"


def test_usernames_are_one_account_whatever_their_case(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server()
    registered = _register(server.url, "mallory", MALLORY_PASSWORD)
    assert registered.status_code == 200, registered.text
    mallory_id = registered.json()["data"]["id"]

    for name in ("Mallory", "MALLORY"):
        twin = _register(server.url, name, "Other-Pass-2026")
        assert twin.status_code == 409, (name, twin.text)
        assert twin.json() == _error("/api/v1", 409, f"username '{name}' already exists")
    runtime = httpx.post(
        f"{server.url}/api/auth/register/",
        json={"username": "mAlLoRy", "password": "Other-Pass-2026"},
        timeout=30,
    )
    assert runtime.status_code == 409, runtime.text
    assert runtime.json() == {"detail": "username 'mAlLoRy' already exists"}

    # Login finds the account whatever the case (users/service.find_by_username); the
    # account keeps the spelling it was registered with.
    logged_in = _login(server.url, "MALLORY", MALLORY_PASSWORD)
    assert logged_in.status_code == 200, logged_in.text
    user = logged_in.json()["data"]["user"]
    assert (user["id"], user["username"]) == (mallory_id, "mallory")
    profile = httpx.get(
        f"{server.url}/api/v1/auth/profile",
        headers=_bearer(logged_in.json()["data"]["token"]),
        timeout=30,
    )
    assert profile.json()["data"]["username"] == "mallory"
    # Not a way around the password: a case variant is the same account, same password.
    wrong = _login(server.url, "MALLORY", "Other-Pass-2026")
    assert wrong.status_code == 401
    assert wrong.json() == _error("/api/v1", 401, "Invalid username or password")

    # Case variants registering at the same instant: the database keeps exactly one.
    variants = ("trudy", "Trudy", "TRUDY", "tRuDy")
    barrier = threading.Barrier(len(variants))

    def race(name: str) -> httpx.Response:
        barrier.wait(timeout=30)
        return _register(server.url, name, "Trudy-Pass-2026")

    with ThreadPoolExecutor(len(variants)) as pool:
        answers = list(pool.map(race, variants))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409, 409, 409], [(a.status_code, a.text) for a in answers]

    admin = login_token(server.url, "admin", EDGE_ADMIN_PASSWORD)
    listed = httpx.get(
        f"{server.url}/api/v1/users", headers=_bearer(admin), params={"limit": 100}, timeout=30
    )
    assert listed.status_code == 200, listed.text
    names = sorted(u["username"].lower() for u in listed.json()["data"]["users"])
    assert names == ["admin", "mallory", "trudy"]


USER_COLUMNS = (
    sa.column("id"),
    sa.column("username"),
    sa.column("role"),
    sa.column("password_hash"),
    sa.column("password_change_required"),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
users_table = sa.table("users", *USER_COLUMNS)


async def _insert_users(url: str, users: list[tuple[str, str, str]]) -> None:
    """(id, username, password), oldest first, as accounts created before revision 0006."""
    hasher = PasswordHasher()
    t0 = utcnow()
    rows = [
        {
            "id": user_id,
            "username": name,
            "role": "admin" if i == 0 else "user",
            "password_hash": hasher.hash(password),
            "password_change_required": False,
            "created_at": t0 + timedelta(minutes=i),
            "updated_at": t0 + timedelta(minutes=i),
        }
        for i, (user_id, name, password) in enumerate(users)
    ]
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(users_table.insert(), rows)
    finally:
        await engine.dispose()


def test_migrate_renames_case_clashes_and_the_renamed_log_in(tmp_path: Path) -> None:
    """The operator's path through revision 0006: `taichu migrate` names each rename, then
    the renamed account's owner logs in with the new name and the old password."""
    url = asyncio.run(create_database(str(tmp_path), "clash", revision="0005"))
    try:
        users = [
            ("u-admin", "admin", "Oldest-Pass-2026"),
            ("u-Admin", "Admin", "Second-Pass-2026"),
            ("u-ADMIN", "ADMIN", "Third-Pass-2026"),
        ]
        asyncio.run(_insert_users(url, users))
        env = server_env(
            url,
            tmp_path / "data",
            TAICHU_SECRET_KEY=EDGE_SECRET_KEY,
            TAICHU_JOBS__ENABLED="false",
        )
        migrated = subprocess.run(
            [sys.executable, "-m", "taichu.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = migrated.stdout + migrated.stderr
        assert migrated.returncode == 0, output
        assert "'Admin' renamed to 'Admin~2'" in output, output
        assert "'ADMIN' renamed to 'ADMIN~3'" in output, output
        assert output.count("renamed to") == 2, output
        assert "older account 'admin'" in output, output
        assert "database is at the latest schema" in output, output

        with running_server(env, tmp_path / "server.log") as server:
            expected = {
                "admin": ("u-admin", "Oldest-Pass-2026"),
                "Admin~2": ("u-Admin", "Second-Pass-2026"),
                "ADMIN~3": ("u-ADMIN", "Third-Pass-2026"),
            }
            for name, (user_id, password) in expected.items():
                response = _login(server.url, name, password)
                assert response.status_code == 200, (name, response.text)
                user = response.json()["data"]["user"]
                assert (user["id"], user["username"]) == (user_id, name)
            # The old spelling now names the oldest account, whose password it is not.
            old_name = _login(server.url, "Admin", "Second-Pass-2026")
            assert old_name.status_code == 401, old_name.text
            # And the name is taken for good, in every case.
            again = _register(server.url, "aDmIn", "Fourth-Pass-2026")
            assert again.status_code == 409, again.text
    finally:
        asyncio.run(drop_database(url))


# --- finding 10 -----------------------------------------------------------------------------

# Operations with no `security` in the document: they take no token at all.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/auth/token"),
    ("POST", "/api/auth/login/"),
}
# What the bootstrap session may read.
ALLOWED = {("GET", "/api/v1/auth/profile"), ("GET", "/api/auth/me/")}
# Also allowed, but not walked: one ends the bootstrap, the other the session. Both are
# exercised after the walk.
AFTERWARDS = {("PUT", "/api/v1/users/{id}/password"), ("POST", "/api/v1/auth/logout")}
METHODS = {"get", "put", "post", "delete", "patch"}
DUMMY_ID = "no-such-id"
NEW_PASSWORD = "Better-Pass-2026"


def _operations(client: httpx.Client) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the server's own OpenAPI document."""
    response = client.get("/api/openapi.json")
    assert response.status_code == 200, response.text
    return [
        (method.upper(), path, operation)
        for path, item in response.json()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _call(client: httpx.Client, method: str, path: str, op: dict[str, Any]) -> httpx.Response:
    """The operation with dummy path parameters and, where it takes a body, `{}`."""
    url = re.sub(r"\{[^}/]+\}", DUMMY_ID, path)
    return client.request(method, url, json={} if "requestBody" in op else None)


def test_bootstrap_admin_must_change_its_password_first(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server(unset=("TAICHU_ADMIN_PASSWORD",))
    assert "default password 'admin'" in server.log()
    token = login_token(server.url, "admin", "admin")
    with httpx.Client(base_url=server.url, headers=_bearer(token), timeout=30) as client:
        profile = client.get("/api/v1/auth/profile")
        assert profile.status_code == 200, profile.text
        assert profile.json()["data"]["password_change_required"] is True
        admin_id = profile.json()["data"]["id"]
        todo = f"change the bootstrap password first: PUT /api/v1/users/{admin_id}/password"

        operations = _operations(client)
        keys = {(method, path) for method, path, _ in operations}
        public = {(method, path) for method, path, op in operations if not op.get("security")}
        assert public == PUBLIC
        assert keys >= ALLOWED | AFTERWARDS
        walked = [
            (method, path, op)
            for method, path, op in operations
            if (method, path) not in PUBLIC | ALLOWED | AFTERWARDS
        ]
        # The walk covers both families, /metrics and the write operations.
        for must in (("GET", "/api/v1/users"), ("GET", "/api/runtime/clusters/")):
            assert must in {(m, p) for m, p, _ in walked}
        assert ("GET", "/metrics") in {(m, p) for m, p, _ in walked}

        for method, path in ALLOWED:
            response = client.request(method, path)
            assert response.status_code == 200, (method, path, response.text)
        not_refused = []
        for method, path, op in walked:
            response = _call(client, method, path, op)
            if response.status_code != 403 or response.json() != _error(path, 403, todo):
                not_refused.append((method, path, response.status_code, response.text[:300]))
        assert not_refused == [], not_refused
        # The password change is its own only: another account's is refused too.
        other = client.put(
            f"/api/v1/users/{DUMMY_ID}/password", json={"new_password": "Other-Pass-2026"}
        )
        assert other.status_code == 403, other.text
        assert other.json() == _error("/api/v1", 403, todo)

        changed = client.put(
            f"/api/v1/users/{admin_id}/password",
            json={"old_password": "admin", "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 200, changed.text
        # Full powers from now on, in this very session.
        after = client.get("/api/v1/auth/profile")
        assert after.json()["data"]["password_change_required"] is False
        for path in ("/api/v1/users", "/api/runtime/clusters/", "/metrics"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
        # The same walk: no refusal of any kind any more (404s and 400s for the dummy ids
        # and empty bodies), and nothing breaks on `{}`.
        still = []
        for method, path, op in walked:
            response = _call(client, method, path, op)
            if response.status_code in (401, 403) or response.status_code >= 500:
                still.append((method, path, response.status_code, response.text[:300]))
        assert still == [], still

        assert _login(server.url, "admin", "admin").status_code == 401
        assert _login(server.url, "admin", NEW_PASSWORD).status_code == 200
        out = client.post("/api/v1/auth/logout")
        assert out.status_code == 200, out.text
        assert client.get("/api/v1/auth/profile").status_code == 401
    assert "Traceback" not in server.log()


def test_an_empty_admin_password_is_the_bootstrap_password(
    edge_server: Callable[..., ServerProcess],
) -> None:
    """`TAICHU_ADMIN_PASSWORD=` (a variable left empty in a compose file) is no password:
    admin/admin with the bootstrap restrictions, not admin/admin with full powers."""
    server = edge_server(TAICHU_ADMIN_PASSWORD="")
    assert "default password 'admin'" in server.log()
    token = login_token(server.url, "admin", "admin")
    with httpx.Client(base_url=server.url, headers=_bearer(token), timeout=30) as client:
        profile = client.get("/api/v1/auth/profile")
        assert profile.json()["data"]["password_change_required"] is True
        refused = client.get("/api/v1/users")
        assert refused.status_code == 403, refused.text
        assert "change the bootstrap password first" in refused.json()["message"]
