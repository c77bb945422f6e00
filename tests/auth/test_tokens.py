"""Token lifecycle: logout and refresh revoke, bad tokens are refused, keys are per install."""

from __future__ import annotations

import base64
import json
import os
import stat
from typing import Any

import httpx
import jwt
import pytest

from taichu.auth.tokens import issue_token
from taichu.config import Settings
from taichu.crypto import jwt_signing_key
from tests.conftest import ADMIN_PASSWORD, bearer, login


async def test_logout_revokes_token_even_after_restart(start_app: Any, settings: Settings) -> None:
    client = await start_app(settings)
    token = await login(client, "admin", ADMIN_PASSWORD)
    assert (await client.get("/api/v1/auth/profile", headers=bearer(token))).status_code == 200
    out = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert out.status_code == 200 and out.json()["data"]["message"] == "Logged out"
    assert (await client.get("/api/v1/auth/profile", headers=bearer(token))).status_code == 401
    # A new process on the same database still refuses it.
    restarted = await start_app(settings)
    response = await restarted.get("/api/v1/auth/profile", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token: Token revoked"


async def test_refresh_issues_new_token_and_revokes_old(client: httpx.AsyncClient) -> None:
    old = await login(client, "admin", ADMIN_PASSWORD)
    response = await client.post("/api/v1/auth/refresh", json={"token": old})
    assert response.status_code == 200
    new = response.json()["data"]["token"]
    assert new != old
    assert (await client.get("/api/v1/auth/profile", headers=bearer(new))).status_code == 200
    assert (await client.get("/api/v1/auth/profile", headers=bearer(old))).status_code == 401
    again = await client.post("/api/v1/auth/refresh", json={"token": old})
    assert again.status_code == 401


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_bad_tokens_are_401(client: httpx.AsyncClient, settings: Settings) -> None:
    good = await login(client, "admin", ADMIN_PASSWORD)
    claims = jwt.decode(good, options={"verify_signature": False})
    key = jwt_signing_key(settings)
    expired, _ = issue_token(
        key, user_id=claims["sub"], username="admin", role="admin", ttl_seconds=-10
    )
    wrong_key, _ = issue_token(
        b"another-installation-key-0123456789abcdef",
        user_id=claims["sub"],
        username="admin",
        role="admin",
        ttl_seconds=600,
    )
    alg_none = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."
    hs512 = jwt.encode(claims, key, algorithm="HS512")
    for token, reason in [
        (expired, "expired"),
        (wrong_key, "signature"),
        (alg_none, "alg"),
        (hs512, "alg"),
        ("not-a-jwt", ""),
        (good[:-4] + "AAAA", "signature"),
    ]:
        response = await client.get("/api/v1/auth/profile", headers=bearer(token))
        assert response.status_code == 401, (reason, response.text)
        assert response.json()["code"] == 401
        assert reason.lower() in response.json()["message"].lower()
    no_scheme = await client.get("/api/v1/auth/profile", headers={"Authorization": good})
    assert no_scheme.status_code == 401


async def test_test_token_only_in_development(start_app: Any, make_settings: Any) -> None:
    production = await start_app(make_settings(env="production"))
    response = await production.get("/api/v1/auth/token")
    assert response.status_code == 404 and response.json()["code"] == 404
    development = await start_app(make_settings(env="development"))
    response = await development.get("/api/v1/auth/token")
    # This client is 10.0.0.1: not loopback (tests/api/test_edge_dev.py serves loopback).
    assert response.status_code == 403 and response.json()["code"] == 403


async def test_signing_key_is_generated_per_installation(make_settings: Any, tmp_path: Any) -> None:
    first = make_settings(secret_key=None, data_dir=tmp_path / "one")
    second = make_settings(secret_key=None, data_dir=tmp_path / "two")
    key_one, key_two = jwt_signing_key(first), jwt_signing_key(second)
    assert key_one != key_two
    assert jwt_signing_key(first) == key_one  # stable across restarts
    secret_file = tmp_path / "one" / "secret.key"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600


# Every 401 a token can earn: fixed sentences of ours, never a library's exception text.
TOKEN_MESSAGES = {
    "Invalid token: Token expired",
    "Invalid token: signature does not match",
    "Invalid token: algorithm not allowed (HS256 only)",
    "Invalid token: not a JWT",
    "Invalid token: malformed claims",
    "Invalid token: a required claim is missing",
    "Invalid token: wrong issuer",
    "Invalid token: not valid yet",
}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_absurd_claims_are_401_with_our_own_messages(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Finding 18: `exp` of 10^18 was a 500 (the claim overflowed a datetime)."""
    good = await login(client, "admin", ADMIN_PASSWORD)
    claims = jwt.decode(good, options={"verify_signature": False})
    key = jwt_signing_key(settings)

    def forged(**changes: Any) -> str:
        payload = {**claims, **changes}
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, "HS256")

    tokens = [
        forged(exp=10**18),
        forged(exp=10**30),
        forged(exp=2**63),
        forged(exp=1e300),
        forged(exp="soon"),
        forged(iat=-(10**18)),
        forged(iat=10**18),
        forged(pwv="abc"),
        forged(pwv=[1]),
        forged(sub=None),
        forged(iss="someone-else"),
        forged(nbf=10**18),
        jwt.encode(claims, b"another-installation-key-0123456789abcdef", "HS256"),
        jwt.encode(claims, key, "HS512"),
        "not-a-jwt",
        "a.b.c",
        good[:-4] + "AAAA",
        _b64({"alg": "HS256"}) + "." + _b64({"exp": "x"}) + ".",
    ]
    for token in tokens:
        for path, field in (("/api/v1/auth/profile", "message"), ("/api/auth/me/", "detail")):
            response = await client.get(path, headers=bearer(token))
            assert response.status_code == 401, (token, response.text)
            assert response.json()[field] in TOKEN_MESSAGES, (token, response.text)
