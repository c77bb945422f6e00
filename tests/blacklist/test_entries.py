"""The blacklist API: who may change it, what it refuses, and the safeguards against
locking oneself out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.blacklist.conftest import Connect, Servers, admin_token
from tests.support.server import ServerProcess

BLACKLIST = "/api/anomaly/blacklist/"


async def _total(admin: httpx.AsyncClient) -> int:
    response = await admin.get(BLACKLIST)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"ip": "not-an-ip", "action": "block"}, 422, "ip"),
        ({"ip": "300.1.2.3"}, 422, "ip"),
        ({"ip": "10.0.0.5/24"}, 422, "ip"),  # host bits: says which network was meant
        ({"ip": "fe80::1%eth0"}, 422, "ip"),
        ({"ip": ""}, 422, "ip"),
        ({"ip": 12345}, 400, "ip"),
        ({"action": "block"}, 400, "ip"),
        ({"ip": "203.0.113.9", "action": "drop"}, 422, "action"),
        ({"ip": "203.0.113.9", "expires_at": "tomorrow"}, 400, "expires_at"),
        ({"ip": "203.0.113.9", "expires_at": "2030-01-01T00:00:00"}, 422, "expires_at"),
        ({"ip": "203.0.113.9", "expires_at": "2020-01-01T00:00:00Z"}, 422, "expires_at"),
        ({"ip": "203.0.113.9", "expires_at": "9999-12-31T23:59:59-14:00"}, 422, "expires_at"),
        ({"ip": "203.0.113.9", "reason": "x" * 501}, 422, "reason"),
        ({"ip": "203.0.113.9", "colour": "red"}, 400, "colour"),
    ],
)
async def test_bad_entries_are_refused_naming_the_field(
    server: ServerProcess, connect: Connect, body: dict[str, object], status: int, field: str
) -> None:
    admin = connect(server, "127.0.0.1", admin_token(server))
    before = await _total(admin)
    response = await admin.post(BLACKLIST, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"detail"}
    assert field in response.json()["detail"], response.text
    assert await _total(admin) == before  # nothing stored


async def test_good_entries_are_stored_canonically(server: ServerProcess, connect: Connect) -> None:
    admin = connect(server, "127.0.0.1", admin_token(server))
    expires = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    made = []
    for ip, shown in (
        ("203.0.113.9", "203.0.113.9"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8:1::/48", "2001:db8:1::/48"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("198.51.100.64/26", "198.51.100.64/26"),
    ):
        response = await admin.post(
            BLACKLIST,
            json={"ip": ip, "action": "monitor", "reason": "r", "expires_at": expires.isoformat()},
        )
        assert response.status_code == 200, response.text
        entry = response.json()
        assert entry["ip"] == shown
        assert entry["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        made.append(entry["id"])
    # A second active entry of one network is a conflict naming the first.
    dup = await admin.post(BLACKLIST, json={"ip": "203.0.113.9", "action": "block"})
    assert dup.status_code == 409, dup.text
    assert made[0] in dup.json()["detail"]
    # Filters and pages.
    v6 = await admin.get(BLACKLIST, params={"ip": "2001:db8::/32"})
    assert {e["ip"] for e in v6.json()["entries"]} == {"2001:db8::1", "2001:db8:1::/48"}
    monitors = await admin.get(BLACKLIST, params={"action": "monitor", "limit": 2, "page": 1})
    assert monitors.json()["limit"] == 2 and len(monitors.json()["entries"]) == 2
    assert monitors.json()["total"] >= 5
    bad = await admin.get(BLACKLIST, params={"ip": "nope"})
    assert bad.status_code == 422 and "ip" in bad.json()["detail"]
    assert (await admin.get(BLACKLIST, params={"action": "drop"})).status_code == 422
    manual = await admin.get(BLACKLIST, params={"source": "manual", "limit": 100})
    assert set(made) <= {e["id"] for e in manual.json()["entries"]}
    for entry_id in made:
        assert (await admin.delete(f"{BLACKLIST}{entry_id}/")).status_code == 200
    assert (await admin.delete(f"{BLACKLIST}not-a-uuid/")).status_code == 404


async def test_changes_are_audited(server: ServerProcess, connect: Connect) -> None:
    admin = connect(server, "127.0.0.1", admin_token(server))
    made = await admin.post(
        BLACKLIST, json={"ip": "192.0.2.77", "action": "block", "reason": "audit me"}
    )
    entry_id = made.json()["id"]
    await admin.delete(f"{BLACKLIST}{entry_id}/")
    records = await admin.get("/api/v1/audit", params={"event_type": "anomaly", "limit": 100})
    mine = [e for e in records.json()["data"]["events"] if e["resource_id"] == entry_id]
    by_action = {e["action"]: e for e in mine}
    assert set(by_action) == {"create", "delete"}, mine
    assert by_action["create"]["resource"] == "blacklist-entry"
    assert by_action["create"]["user"] == "admin"
    assert by_action["create"]["new_value"]["ip"] == "192.0.2.77"
    assert by_action["delete"]["old_value"]["reason"] == "audit me"
    # A refused change is audited as a failure.
    await admin.post(BLACKLIST, json={"ip": "127.0.0.1", "action": "block"})
    failed = await admin.get(
        "/api/v1/audit", params={"event_type": "anomaly", "result": "failure", "limit": 100}
    )
    assert any(
        e["action"] == "create" and e["resource"] == "blacklist-entry" and e["user"] == "admin"
        for e in failed.json()["data"]["events"]
    )


async def test_non_admins_are_refused(server: ServerProcess, connect: Connect) -> None:
    anonymous = connect(server, "127.0.0.1")
    registered = await anonymous.post(
        "/api/auth/register/", json={"username": "bl-viewer", "password": "Viewer-Pass-2026"}
    )
    assert registered.status_code == 200, registered.text
    user = connect(server, "127.0.0.1", registered.json()["token"])
    admin = connect(server, "127.0.0.1", admin_token(server))
    entry = (await admin.post(BLACKLIST, json={"ip": "192.0.2.78", "action": "block"})).json()
    for client, status in ((user, 403), (anonymous, 401)):
        responses = [
            await client.get(BLACKLIST),
            await client.post(BLACKLIST, json={"ip": "192.0.2.79", "action": "block"}),
            await client.delete(f"{BLACKLIST}{entry['id']}/"),
        ]
        for response in responses:
            assert response.status_code == status, response.text
            assert set(response.json()) == {"detail"}
    ips = [e["ip"] for e in (await admin.get(BLACKLIST, params={"limit": 100})).json()["entries"]]
    assert "192.0.2.78" in ips and "192.0.2.79" not in ips


async def test_own_address_and_loopback_need_force(server: ServerProcess, connect: Connect) -> None:
    # The admin works from 127.0.0.30 here.
    admin = connect(server, "127.0.0.30", admin_token(server))
    for ip in ("127.0.0.30", "127.0.0.0/24", "0.0.0.0/0"):
        refused = await admin.post(BLACKLIST, json={"ip": ip, "action": "block"})
        assert refused.status_code == 422, refused.text
        assert "your own address 127.0.0.30" in refused.json()["detail"]
        assert "force" in refused.json()["detail"]
    loop = await admin.post(BLACKLIST, json={"ip": "127.0.0.31", "action": "block"})
    assert loop.status_code == 422 and "loopback" in loop.json()["detail"], loop.text
    ipv6_loop = await admin.post(BLACKLIST, json={"ip": "::1", "action": "block"})
    assert ipv6_loop.status_code == 422 and "loopback" in ipv6_loop.json()["detail"]
    # Forced: the admin did lock themself out.
    forced = await admin.post(
        BLACKLIST, json={"ip": "127.0.0.30", "action": "block", "force": True}
    )
    assert forced.status_code == 200, forced.text
    assert (await admin.get(BLACKLIST)).status_code == 403
    other = connect(server, "127.0.0.1", admin_token(server))
    assert (await other.delete(f"{BLACKLIST}{forced.json()['id']}/")).status_code == 200
    assert (await admin.get(BLACKLIST)).status_code == 200


@pytest.fixture(scope="module")
def proxied_server(servers: Servers) -> ServerProcess:
    return servers.start(
        TAICHU_BLACKLIST__ALLOW="127.0.3.40,2001:db8:aa::/48",
        TAICHU_TRUSTED_PROXIES="127.0.0.1",
    )


async def test_allow_list_and_trusted_proxy(
    proxied_server: ServerProcess, connect: Connect
) -> None:
    server = proxied_server
    token = admin_token(server)
    # Behind the trusted proxy 127.0.0.1, the admin is 198.51.100.9.
    admin = connect(server, "127.0.0.1", token)
    admin.headers["X-Forwarded-For"] = "198.51.100.9"
    own = await admin.post(BLACKLIST, json={"ip": "198.51.100.0/24", "action": "block"})
    assert own.status_code == 422 and "own address 198.51.100.9" in own.json()["detail"]
    # Allow-listed: never blocked, even forced.
    for ip in ("127.0.3.40", "2001:db8:aa:1::/64"):
        allowed = await admin.post(BLACKLIST, json={"ip": ip, "action": "block", "force": True})
        assert allowed.status_code == 422, allowed.text
        assert "allow-list" in allowed.json()["detail"]
    # A network around an allowed address blocks the rest of it, not that address.
    wide = await admin.post(
        BLACKLIST, json={"ip": "127.0.3.0/24", "action": "block", "force": True}
    )
    assert wide.status_code == 200, wide.text
    assert (await connect(server, "127.0.3.41").get("/api/v1/clusters")).status_code == 403
    assert (await connect(server, "127.0.3.40").get("/api/v1/clusters")).status_code == 401

    # Through the proxy: the client is the rightmost hop that is not a trusted proxy.
    made = await admin.post(BLACKLIST, json={"ip": "203.0.113.5", "action": "block"})
    assert made.status_code == 200, made.text
    proxy = connect(server, "127.0.0.1")
    for chain, status in (
        ("203.0.113.5", 403),
        ("192.0.2.1, 203.0.113.5", 403),  # a spoofed left entry does not help
        ("203.0.113.5, 203.0.113.6", 401),  # the client is .6; .5 was its own words
    ):
        response = await proxy.get("/api/v1/clusters", headers={"X-Forwarded-For": chain})
        assert response.status_code == status, (chain, response.text)
    # From a peer that is not a trusted proxy, the header is ignored.
    untrusted = connect(server, "127.0.0.60")
    spoof = await untrusted.get("/api/v1/clusters", headers={"X-Forwarded-For": "203.0.113.5"})
    assert spoof.status_code == 401
