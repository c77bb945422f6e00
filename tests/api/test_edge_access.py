"""Finding 17 (/metrics for admins and the metrics token only) and development mode
(its admin-token endpoint answers loopback clients only, and the server says so loudly)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.api.conftest import EDGE_ADMIN_PASSWORD
from tests.support.server import ServerProcess, login_token

METRICS_TOKEN = "edge-scrape-token-0123456789"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_metrics_only_for_admins_and_the_metrics_token(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server(TAICHU_METRICS_TOKEN=METRICS_TOKEN)
    registered = httpx.post(
        f"{server.url}/api/v1/auth/register",
        json={"username": "mallory", "password": "Mallory-Pass-2026", "email": "m@example.com"},
        timeout=30,
    )
    assert registered.status_code == 200, registered.text
    user = login_token(server.url, "mallory", "Mallory-Pass-2026")
    admin = login_token(server.url, "admin", EDGE_ADMIN_PASSWORD)

    refused = httpx.get(f"{server.url}/metrics", headers=_bearer(user), timeout=30)
    assert refused.status_code == 403
    assert refused.json()["code"] == 403 and refused.json()["data"] is None
    assert "taichu_http_requests_total" not in refused.text
    for token in (admin, METRICS_TOKEN):
        allowed = httpx.get(f"{server.url}/metrics", headers=_bearer(token), timeout=30)
        assert allowed.status_code == 200 and "taichu_http_requests_total" in allowed.text
    assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401


def test_development_token_only_for_loopback(edge_server: Callable[..., ServerProcess]) -> None:
    # The proxy on this machine is trusted, so X-Forwarded-For makes a remote client.
    server = edge_server(TAICHU_ENV="development", TAICHU_TRUSTED_PROXIES="127.0.0.1")
    assert "TAICHU_ENV=development" in server.log() and "ADMIN token" in server.log()

    remote = httpx.get(
        f"{server.url}/api/v1/auth/token",
        headers={"X-Forwarded-For": "203.0.113.50"},
        timeout=30,
    )
    assert remote.status_code == 403, remote.text
    assert remote.json()["code"] == 403 and "loopback" in remote.json()["message"]
    assert remote.json()["data"] is None

    local = httpx.get(f"{server.url}/api/v1/auth/token", timeout=30)
    assert local.status_code == 200, local.text
    profile = httpx.get(
        f"{server.url}/api/v1/auth/profile",
        headers=_bearer(local.json()["data"]["token"]),
        timeout=30,
    )
    assert profile.json()["data"]["role"] == "admin"
