"""Real traffic from distinct loopback addresses against a real `taichu serve`: brute
force and 404 scanning are detected and recorded as events with their evidence windows;
an address making ordinary requests is not flagged; the list endpoints' filters."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.waiting import wait_for
from tests.traffic.conftest import (
    LOCKOUT_AFTER_ONE,
    WRONG,
    admin_client,
    aligned,
    client_at,
    lock_out,
)

MONITOR_ONLY = {
    "TAICHU_ANOMALY__MODES__BRUTE_FORCE": "monitor",
    "TAICHU_ANOMALY__MODES__SCANNING": "monitor",
}


async def _events(admin: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await admin.get("/api/anomaly/events/", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _attack(url: str) -> tuple[int, int, int]:
    """Brute force from .11 (both families), scanning from .12, ordinary use from .13."""
    async with (
        client_at(url, "127.0.0.11") as guesser,
        client_at(url, "127.0.0.12") as scanner,
    ):
        logins = [
            guesser.post("/api/v1/auth/login" if i % 2 else "/api/auth/login/", json=WRONG)
            for i in range(12)
        ]
        probes = [scanner.get(f"/api/v1/no-such-{i}") for i in range(16)]
        answers = await asyncio.gather(*logins, *probes)
    assert {a.status_code for a in answers[:12]} == {429}  # locked out: no password check
    assert {a.status_code for a in answers[12:]} == {404}
    return 12, 16, 0


async def test_brute_force_and_scanning_are_detected_an_ordinary_address_is_not(
    serve: Any,
) -> None:
    server = await serve(**MONITOR_ONLY, **LOCKOUT_AFTER_ONE)
    admin = await admin_client(server)
    async with admin:
        me = await admin.get("/api/auth/me/")
        token = admin.headers["Authorization"]
        async with client_at(server.url, "127.0.0.13") as ordinary:
            ordinary.headers["Authorization"] = token
            await lock_out(server.url, "127.0.0.11")  # 2 failures: below the threshold
            await aligned(3)
            await _attack(server.url)
            for _ in range(10):
                assert (await ordinary.get("/api/auth/me/")).status_code == 200
        assert me.status_code == 200

        found = await wait_for(
            lambda: _events(admin),
            lambda page: {"brute_force", "scanning"} <= {e["detector"] for e in page["items"]},
            timeout=60,
        )
        by_detector = {e["detector"]: e for e in found["items"]}
        brute, scan = by_detector["brute_force"], by_detector["scanning"]
        assert brute["ip"] == "127.0.0.11" and brute["mode"] == "monitor"
        assert brute["evidence"]["login_failures"] >= 4
        assert brute["evidence"]["usernames"] == ["root"]
        assert brute["blocked_until"] is None and brute["blacklist_entry_id"] is None
        assert scan["ip"] == "127.0.0.12" and scan["evidence"]["distinct_paths"] >= 8
        assert set(scan["evidence"]["paths"]) <= {f"/api/v1/no-such-{i}" for i in range(16)}
        for event in (brute, scan):
            assert event["window_start"] < event["window_end"] <= event["created_at"]
        assert all(e["ip"] != "127.0.0.13" for e in found["items"])

        # Filters: ip, detector, since; pagination.
        only_scan = await _events(admin, detector="scanning")
        assert {e["detector"] for e in only_scan["items"]} == {"scanning"}
        by_ip = await _events(admin, ip="127.0.0.11")
        assert by_ip["items"] and {e["ip"] for e in by_ip["items"]} == {"127.0.0.11"}
        assert (await _events(admin, since="2999-01-01"))["total"] == 0
        paged = await _events(admin, limit="1", page="2")
        assert paged["page"] == 2 and paged["limit"] == 1 and len(paged["items"]) == 1
        assert paged["total"] == found["total"]

        # The traffic samples: counts, flags, the ordinary address unflagged.
        traffic = await wait_for(
            lambda: admin.get("/api/anomaly/traffic/", params={"ip": "127.0.0.13"}),
            lambda r: sum(s["requests"] for s in r.json()["items"]) == 10,
            timeout=30,
        )
        ordinary_samples = traffic.json()["items"]
        assert sum(s["requests"] for s in ordinary_samples) == 10
        assert sum(s["status_2xx"] for s in ordinary_samples) == 10
        assert all(s["flags"] == [] and s["users"] == 1 for s in ordinary_samples)
        assert all(s["score"] < 1 for s in ordinary_samples)
        flagged = await admin.get("/api/anomaly/traffic/", params={"flagged": "true"})
        assert flagged.status_code == 200, flagged.text
        flagged_ips = {s["ip"]: s for s in flagged.json()["items"]}
        assert set(flagged_ips) == {"127.0.0.11", "127.0.0.12"}
        assert flagged_ips["127.0.0.11"]["flags"] == ["brute_force"]
        assert flagged_ips["127.0.0.11"]["login_failures"] >= 4
        assert flagged_ips["127.0.0.11"]["score"] >= 1
        assert flagged_ips["127.0.0.12"]["flags"] == ["scanning"]
        assert flagged_ips["127.0.0.12"]["status_404"] >= 8
        cidr = await admin.get("/api/anomaly/traffic/", params={"ip": "127.0.0.8/29"})
        assert {s["ip"] for s in cidr.json()["items"]} == {"127.0.0.11", "127.0.0.12", "127.0.0.13"}
        day = await admin.get(
            "/api/anomaly/traffic/", params={"start": "2000-01-01", "end": "2000-01-02"}
        )
        assert day.status_code == 200 and day.json()["total"] == 0


async def test_bad_filters_are_400_and_the_lists_are_for_admins(serve: Any) -> None:
    server = await serve()
    admin = await admin_client(server)
    async with admin:
        for params in (
            {"start": "last tuesday"},
            {"end": "2026-01-01T00:00:00"},  # no offset: not RFC 3339
            {"start": "2026-01-02", "end": "2026-01-01"},
            {"ip": "10.0.0.0/33"},
        ):
            response = await admin.get("/api/anomaly/traffic/", params=params)
            assert response.status_code == 400, (params, response.text)
            field = next(iter(params))
            assert response.json()["detail"].startswith(f"{field}:"), response.text
        bad = await admin.get("/api/anomaly/events/", params={"detector": "telepathy"})
        assert bad.status_code == 400 and bad.json()["detail"].startswith("detector:")
        created = await admin.post(
            "/api/v1/auth/register", json={"username": "viewer1", "password": "s3cret-pass"}
        )
        assert created.status_code == 200, created.text
    async with client_at(server.url, "127.0.0.1") as anonymous:
        assert (await anonymous.get("/api/anomaly/traffic/")).status_code == 401
        login = await anonymous.post(
            "/api/auth/login/", json={"username": "viewer1", "password": "s3cret-pass"}
        )
        anonymous.headers["Authorization"] = f"Bearer {login.json()['token']}"
        for path in ("/api/anomaly/traffic/", "/api/anomaly/events/"):
            refused = await anonymous.get(path)
            assert refused.status_code == 403 and "detail" in refused.json()


async def test_requests_matching_a_monitor_entry_are_counted_as_monitored(serve: Any) -> None:
    server = await serve()
    admin = await admin_client(server)
    async with admin, client_at(server.url, "127.0.0.14") as watched:
        entry = await admin.post(
            "/api/anomaly/blacklist/",
            json={"ip": "127.0.0.14", "action": "monitor", "reason": "watch", "force": True},
        )
        assert entry.status_code == 200, entry.text

        async def request_and_read() -> list[dict[str, Any]]:
            assert (await watched.get("/healthz")).status_code == 200  # monitor: answered
            page = await admin.get("/api/anomaly/traffic/", params={"ip": "127.0.0.14"})
            return list(page.json()["items"])

        samples = await wait_for(
            request_and_read, lambda items: any(s["monitored"] for s in items), timeout=60
        )
    for sample in samples:
        assert sample["monitored"] <= sample["requests"] == sample["status_2xx"]
        assert sample["blocked"] == 0 and sample["flags"] == []
