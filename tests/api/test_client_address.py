"""Finding 7: X-Forwarded-For is believed only from TAICHU_TRUSTED_PROXIES, and then only
its rightmost hop that is not a trusted proxy: audit and login throttling see that."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import httpx

from taichu.api.client import resolve_client
from tests.api.conftest import EDGE_ADMIN_PASSWORD
from tests.support.server import ServerProcess, login_token

THROTTLE = {
    "TAICHU_AUTH__LOGIN_MAX_FAILURES": "3",
    "TAICHU_AUTH__LOGIN_ADDRESS_MAX_FAILURES": "3",
    "TAICHU_AUTH__LOGIN_SLOWDOWN_AFTER": "50",
}


def _nets(*texts: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(t) for t in texts]


def test_resolve_client_rules() -> None:
    proxies = _nets("10.9.0.0/16", "127.0.0.1")
    # No trusted proxies, or an untrusted peer: the header is ignored.
    assert resolve_client("127.0.0.1", ["6.6.6.6"], []) == "127.0.0.1"
    assert resolve_client("192.0.2.1", ["6.6.6.6"], proxies) == "192.0.2.1"
    # Trusted peer: rightmost hop that is not a trusted proxy; spoofed leftmost ignored.
    chain = ["6.6.6.6, 7.7.7.7, 203.0.113.9", "10.9.0.3"]
    assert resolve_client("127.0.0.1", chain, proxies) == "203.0.113.9"
    # Only proxies in the chain: the farthest one we could vouch for.
    assert resolve_client("127.0.0.1", ["10.9.0.7, 10.9.0.3"], proxies) == "10.9.0.7"
    assert resolve_client("127.0.0.1", [], proxies) == "127.0.0.1"
    # Garbage right of any client address: the client is unknown (not the proxy).
    assert resolve_client("127.0.0.1", ["203.0.113.9, not-an-ip"], proxies) == "unknown"
    # A trusted proxy that could not name the client: unknown, never the proxy (loopback).
    for odd in (["unknown"], [""], ["8.8.8.8,,"], ["garbage"]):
        assert resolve_client("127.0.0.1", odd, proxies) == "unknown", odd
    # Ports and brackets as some proxies write them; IPv4-mapped IPv6 as IPv4.
    assert resolve_client("127.0.0.1", ["[2001:db8::5]:443"], proxies) == "2001:db8::5"
    assert resolve_client("127.0.0.1", ["203.0.113.9:5555"], proxies) == "203.0.113.9"
    assert resolve_client("::ffff:127.0.0.1", ["203.0.113.9"], proxies) == "203.0.113.9"


def _login(server: ServerProcess, username: str, forwarded: str | None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": username, "password": "Wrong-Password-1"},
        headers=headers,
        timeout=30,
    )


def _login_addresses(server: ServerProcess, token: str) -> set[str | None]:
    response = httpx.get(
        f"{server.url}/api/v1/audit",
        params={"action": "login", "limit": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {event["ip_address"] for event in response.json()["data"]["events"]}


def _redirect_scheme(server: ServerProcess) -> str:
    # The runtime paths end with "/": without it the server redirects, absolutely.
    response = httpx.get(
        f"{server.url}/api/runtime/clusters",
        headers={"X-Forwarded-Proto": "https"},
        timeout=30,
    )
    assert response.status_code in (307, 308), response.text
    return response.headers["location"].split("://", 1)[0]


def test_spoofed_header_from_untrusted_peer_is_ignored(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server(**THROTTLE)
    token = login_token(server.url, "admin", EDGE_ADMIN_PASSWORD)
    # A new address and a new username each time: only a per-address count can stop it.
    statuses = [_login(server, f"ghost{i}", f"198.51.100.{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429], statuses
    addresses = _login_addresses(server, token)
    assert addresses == {"127.0.0.1"}, addresses
    assert _redirect_scheme(server) == "http"  # X-Forwarded-Proto ignored as well


def test_trusted_proxy_hop_is_used_and_spoofed_entries_ignored(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server(TAICHU_TRUSTED_PROXIES="127.0.0.1,10.9.0.0/16", **THROTTLE)
    token = login_token(server.url, "admin", EDGE_ADMIN_PASSWORD)
    # The client put two entries of its own; the outer proxy 10.9.0.3 is one of ours.
    chain = "6.6.6.6, 7.7.7.7, 203.0.113.9, 10.9.0.3"
    assert _login(server, "ghost", chain).status_code == 401
    assert _login_addresses(server, token) == {"127.0.0.1", "203.0.113.9"}
    # Rotating the spoofed part does not make a new address: the real hop is locked.
    statuses = [
        _login(server, f"ghost{i}", f"192.0.2.{i}, 203.0.113.77").status_code for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429], statuses
    # Another client behind the same proxy is not locked out with it.
    fine = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": "admin", "password": EDGE_ADMIN_PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.78"},
        timeout=30,
    )
    assert fine.status_code == 200, fine.text
    # The proxy terminated TLS: URLs the server builds say https.
    assert _redirect_scheme(server) == "https"
