"""Enforcement seen from the blocked address: real traffic from distinct loopback
addresses to a real `taichu serve`, on both API families."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.blacklist.conftest import (
    ADMIN_PASSWORD,
    Connect,
    admin_token,
    blocked_runtime,
    blocked_v1,
)
from tests.support.server import ServerProcess
from tests.support.waiting import wait_for

BLACKLIST = "/api/anomaly/blacklist/"


async def _add(admin: httpx.AsyncClient, **body: object) -> dict[str, object]:
    response = await admin.post(BLACKLIST, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _entry(admin: httpx.AsyncClient, entry_id: str) -> dict[str, object]:
    response = await admin.get(BLACKLIST, params={"limit": 100})
    assert response.status_code == 200, response.text
    return next(e for e in response.json()["entries"] if e["id"] == entry_id)


async def _statuses(client: httpx.AsyncClient) -> tuple[int, int]:
    v1 = await client.get("/api/v1/clusters")
    runtime = await client.get("/api/runtime/clusters/")
    return v1.status_code, runtime.status_code


async def test_a_blocked_address_is_refused_everywhere_first(
    server: ServerProcess, connect: Connect
) -> None:
    token = admin_token(server)
    admin = connect(server, "127.0.0.1", token)
    entry = await _add(admin, ip="127.0.0.21", action="block", reason="test", force=True)
    assert entry["source"] == "manual" and entry["created_by"] == "admin"
    assert entry["active"] is True and entry["hits"] == 0

    # Even with an admin's token: refused before authentication.
    blocked = connect(server, "127.0.0.21", token)
    v1 = await blocked.get("/api/v1/clusters")
    assert (v1.status_code, v1.json()) == (403, blocked_v1("127.0.0.21"))
    runtime = await blocked.get("/api/runtime/clusters/")
    assert (runtime.status_code, runtime.json()) == (403, blocked_runtime("127.0.0.21"))
    # Before routing: a path that does not exist, and a login with the right password.
    assert (await blocked.get("/api/nowhere/")).json() == blocked_runtime("127.0.0.21")
    login = await blocked.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert (login.status_code, login.json()) == (403, blocked_v1("127.0.0.21"))
    # A neighbour is not blocked.
    other = connect(server, "127.0.0.22")
    assert await _statuses(other) == (401, 401)

    # Hits are counted (in batches): 4 refused requests so far.
    counted = await wait_for(lambda: _entry(admin, entry["id"]), lambda e: e["hits"] == 4)
    assert counted["last_hit_at"] is not None

    # Deleted: the address is let in at once (this replica), still unauthenticated.
    removed = await admin.delete(f"{BLACKLIST}{entry['id']}/")
    assert removed.status_code == 200, removed.text
    assert removed.json()["id"] == entry["id"]
    assert await _statuses(connect(server, "127.0.0.21")) == (401, 401)
    assert (await admin.delete(f"{BLACKLIST}{entry['id']}/")).status_code == 404


def test_a_blocked_request_does_not_wait_for_its_body(server: ServerProcess) -> None:
    token = admin_token(server)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as a:
        body = {"ip": "127.0.0.25", "action": "block", "force": True}
        assert a.post(BLACKLIST, json=body).status_code == 200
    # Headers announce a body that never comes: the answer is immediate, not after the
    # body timeout (30 s); and 5 MB (over the 1 MiB limit: 413 if the body limit looked
    # at it first) is refused 403, the connection closed.
    for length in (1000, 5 * 2**20):
        with socket.create_connection(
            ("127.0.0.1", server.port), timeout=10, source_address=("127.0.0.25", 0)
        ) as sock:
            started = time.monotonic()
            sock.sendall(
                b"POST /api/v1/clusters HTTP/1.1\r\nHost: x\r\nContent-Type: "
                b"application/json\r\nContent-Length: %d\r\n\r\n" % length
            )
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 403"), answer
            assert b"connection: close" in answer.lower(), answer
            assert time.monotonic() - started < 5


async def test_monitor_entries_only_flag(server: ServerProcess, connect: Connect) -> None:
    token = admin_token(server)
    admin = connect(server, "127.0.0.1", token)
    # Monitoring loopback locks no one out: no force needed.
    entry = await _add(admin, ip="127.0.0.23", action="monitor", reason="watch")
    watched = connect(server, "127.0.0.23", token)
    assert (await watched.get("/api/v1/clusters")).status_code == 200
    assert (await watched.get("/api/runtime/clusters/")).status_code == 200
    await wait_for(lambda: _entry(admin, entry["id"]), lambda e: e["hits"] == 2)


async def test_a_cidr_blocks_every_address_in_it(server: ServerProcess, connect: Connect) -> None:
    admin = connect(server, "127.0.0.1", admin_token(server))
    entry = await _add(admin, ip="127.0.1.0/24", action="block", force=True)
    assert entry["ip"] == "127.0.1.0/24"
    for address in ("127.0.1.1", "127.0.1.200", "127.0.1.255"):
        assert await _statuses(connect(server, address)) == (403, 403), address
    assert await _statuses(connect(server, "127.0.2.1")) == (401, 401)
    # The list's `ip` filter finds the entry from one of its addresses.
    found = await admin.get(BLACKLIST, params={"ip": "127.0.1.77"})
    assert [e["id"] for e in found.json()["entries"]] == [entry["id"]]
    await admin.delete(f"{BLACKLIST}{entry['id']}/")
    assert await _statuses(connect(server, "127.0.1.1")) == (401, 401)


async def test_an_expired_entry_stops_applying_without_a_restart(
    server: ServerProcess, connect: Connect
) -> None:
    admin = connect(server, "127.0.0.1", admin_token(server))
    expires = datetime.now(UTC) + timedelta(seconds=6)
    entry = await _add(
        admin, ip="127.0.0.24", action="block", force=True, expires_at=expires.isoformat()
    )
    blocked = connect(server, "127.0.0.24")
    assert await _statuses(blocked) == (403, 403)
    await wait_for(lambda: _statuses(blocked), lambda s: s == (401, 401), timeout=20)
    assert datetime.now(UTC) >= expires
    # Kept for the record, shown inactive, and found by active=false.
    assert (await _entry(admin, entry["id"]))["active"] is False
    expired = await admin.get(BLACKLIST, params={"active": "false"})
    assert entry["id"] in [e["id"] for e in expired.json()["entries"]]
    current = await admin.get(BLACKLIST, params={"active": "true"})
    assert entry["id"] not in [e["id"] for e in current.json()["entries"]]
    # An expired entry does not stand in the way of a new one for the same address.
    again = await _add(admin, ip="127.0.0.24", action="monitor")
    await admin.delete(f"{BLACKLIST}{again['id']}/")


async def test_forwarded_for_cannot_spoof_past_an_untrusted_peer(
    server: ServerProcess, connect: Connect
) -> None:
    """No trusted proxies on this server: X-Forwarded-For is the client's own words."""
    admin = connect(server, "127.0.0.1", admin_token(server))
    entry = await _add(admin, ip="127.0.0.26", action="block", force=True)
    blocked = connect(server, "127.0.0.26")
    escape = await blocked.get("/api/v1/clusters", headers={"X-Forwarded-For": "203.0.113.1"})
    assert escape.status_code == 403
    framing = connect(server, "127.0.0.27")
    framed = await framing.get("/api/v1/clusters", headers={"X-Forwarded-For": "127.0.0.26"})
    assert framed.status_code == 401
    await admin.delete(f"{BLACKLIST}{entry['id']}/")


async def test_blocked_refusals_are_not_audited_one_by_one(
    server: ServerProcess, connect: Connect
) -> None:
    """A flood from a blocked address must not write a record per request."""
    admin = connect(server, "127.0.0.1", admin_token(server))
    entry = await _add(admin, ip="127.0.0.28", action="block", force=True)
    blocked = connect(server, "127.0.0.28")
    await asyncio.gather(*(blocked.post("/api/v1/clusters", json={}) for _ in range(5)))
    records = await admin.get("/api/v1/audit", params={"limit": 100})
    addresses = {e["ip_address"] for e in records.json()["data"]["events"]}
    assert "127.0.0.28" not in addresses
    await admin.delete(f"{BLACKLIST}{entry['id']}/")
