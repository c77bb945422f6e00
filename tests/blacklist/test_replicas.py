"""Two `taichu serve` replicas on one PostgreSQL database: a change made on one is
enforced by the other within 5 s, and both replicas' hits add up."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.blacklist.conftest import Servers, admin_token
from tests.support.db import BACKEND
from tests.support.server import ServerProcess

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="replicas share a database on PostgreSQL only"
)
BLACKLIST = "/api/anomaly/blacklist/"


@pytest.fixture(scope="module")
def replicas(servers: Servers) -> tuple[ServerProcess, ServerProcess]:
    first = servers.start()
    return first, servers.start(database_url=servers.databases[0])


def _client(server: ServerProcess, address: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=server.url,
        transport=httpx.HTTPTransport(local_address=address),
        headers=headers,
        timeout=30,
    )


def _seconds_until(client: httpx.Client, status: int, limit: float = 5.0) -> float:
    started = time.monotonic()
    while client.get("/api/v1/clusters").status_code != status:
        assert time.monotonic() - started < limit, f"not {status} within {limit} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_change_on_one_replica_applies_on_the_other(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    token = admin_token(a)
    with (
        _client(a, "127.0.0.1", token) as admin_a,
        _client(b, "127.0.0.1", token) as admin_b,
        _client(a, "127.0.0.81") as at_a,
        _client(b, "127.0.0.81") as at_b,
    ):
        assert at_b.get("/api/v1/clusters").status_code == 401
        made = admin_a.post(BLACKLIST, json={"ip": "127.0.0.81", "action": "block", "force": True})
        assert made.status_code == 200, made.text
        assert at_a.get("/api/v1/clusters").status_code == 403  # at once where it was made
        _seconds_until(at_b, 403)  # within 5 s on the other

        # Hits of both replicas add up exactly (counted from a settled baseline).
        entry_id = made.json()["id"]
        baseline = _hits_settled(admin_a, entry_id)
        for _ in range(3):
            assert at_a.get("/api/v1/clusters").status_code == 403
        for _ in range(4):
            assert at_b.get("/api/runtime/clusters/").status_code == 403
        _wait_hits(admin_b, entry_id, baseline + 7)

        # Removed on b: a lets the address in within 5 s.
        assert admin_b.delete(f"{BLACKLIST}{entry_id}/").status_code == 200
        assert at_b.get("/api/v1/clusters").status_code == 401
        _seconds_until(at_a, 401)


def _hits(admin: httpx.Client, entry_id: str) -> int:
    entries = admin.get(BLACKLIST, params={"limit": 100}).json()["entries"]
    return int(next(e["hits"] for e in entries if e["id"] == entry_id))


def _hits_settled(admin: httpx.Client, entry_id: str) -> int:
    """The count once both replicas have written what they hold (flushes are 0.5 s)."""
    last, stable_since = _hits(admin, entry_id), time.monotonic()
    while time.monotonic() - stable_since < 2.0:
        time.sleep(0.25)
        now = _hits(admin, entry_id)
        if now != last:
            last, stable_since = now, time.monotonic()
    return last


def _wait_hits(admin: httpx.Client, entry_id: str, expected: int) -> None:
    deadline = time.monotonic() + 30
    while (hits := _hits(admin, entry_id)) != expected:
        assert hits < expected, f"{hits} hits counted, {expected} made"
        assert time.monotonic() < deadline, f"{hits} hits, expected {expected}"
        time.sleep(0.25)
    assert _hits_settled(admin, entry_id) == expected
