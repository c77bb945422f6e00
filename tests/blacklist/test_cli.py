"""`taichu blacklist list|remove`: the way back in for an operator who blocked
themself, with the server running (applies within 5 s) and with it stopped."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.blacklist.conftest import admin_token
from tests.support.server import ServerProcess

BLACKLIST = "/api/anomaly/blacklist/"


def _client(server: ServerProcess, address: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        transport=httpx.HTTPTransport(local_address=address),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taichu.cli", "blacklist", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _add(admin: httpx.Client, ip: str) -> str:
    response = admin.post(BLACKLIST, json={"ip": ip, "action": "block", "force": True})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_the_locked_out_operator_gets_back_in(server: ServerProcess) -> None:
    token = admin_token(server)
    with _client(server, "127.0.0.71", token) as me, _client(server, "127.0.0.1", token) as admin:
        _add(me, "127.0.0.71")
        assert me.get(BLACKLIST).status_code == 403  # locked out
        wide = _add(admin, "198.51.100.0/24")
        single = _add(admin, "203.0.113.50")

        listed = _cli(server, "list")
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split("\t")[:3] == ["id", "ip", "action"]
        assert {line.split("\t")[1] for line in lines[1:]} == {
            "127.0.0.71",
            "198.51.100.0/24",
            "203.0.113.50",
        }

        # With the server running: removed on the database, in force no more within 5 s.
        removed = _cli(server, "remove", "127.0.0.71")
        assert removed.returncode == 0, removed.stderr
        assert "127.0.0.71" in removed.stdout
        deadline = time.monotonic() + 5
        while me.get(BLACKLIST).status_code == 403:
            assert time.monotonic() < deadline, "removal not applied within 5 s"
            time.sleep(0.2)
        assert me.get(BLACKLIST).status_code == 200

    # Offline: every server stopped.
    server.kill()
    by_address = _cli(server, "remove", "198.51.100.7")  # an address inside the CIDR
    assert by_address.returncode == 0, by_address.stderr
    assert wide in by_address.stdout
    by_id = _cli(server, "remove", single)
    assert by_id.returncode == 0 and single in by_id.stdout, by_id.stderr
    nothing = _cli(server, "remove", "203.0.113.99")
    assert nothing.returncode == 1 and "no blacklist entry" in nothing.stderr
    garbage = _cli(server, "remove", "not-an-address")
    assert garbage.returncode == 2 and "not an entry id, address or CIDR" in garbage.stderr
    assert _cli(server, "list", "--all").stdout.splitlines()[1:] == []

    server.start()
    with _client(server, "127.0.0.1", admin_token(server)) as admin:
        records = admin.get(
            "/api/v1/audit", params={"event_type": "anomaly", "user": "cli", "limit": 100}
        )
        events = records.json()["data"]["events"]
        assert sorted(e["old_value"]["ip"] for e in events) == [
            "127.0.0.71",
            "198.51.100.0/24",
            "203.0.113.50",
        ]
        assert {(e["action"], e["resource"]) for e in events} == {("delete", "blacklist-entry")}
        assert admin.get(BLACKLIST).json()["total"] == 0
    verified = subprocess.run(
        [sys.executable, "-m", "taichu.cli", "audit", "verify"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stderr
