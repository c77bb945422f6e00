"""`block` mode from the blocked address's point of view: brute force and scanning from
two loopback addresses are auto-blocked on both API families, the refusals are not
evidence again, the block is released when its TTL passes, and a repeat offence gets a
longer one."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from taichu.timeutil import utcnow
from tests.support.waiting import wait_for
from tests.traffic.conftest import (
    LOCKOUT_AFTER_ONE,
    WRONG,
    admin_client,
    aligned,
    client_at,
    lock_out,
)

TTL = 6


async def _events(admin: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await admin.get("/api/anomaly/events/", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _guess(url: str, address: str, times: int = 12) -> list[int]:
    async with client_at(url, address) as guesser:
        answers = await asyncio.gather(
            *(guesser.post("/api/v1/auth/login", json=WRONG) for _ in range(times))
        )
    return [a.status_code for a in answers]


async def _scan(url: str, address: str) -> None:
    async with client_at(url, address) as scanner:
        answers = await asyncio.gather(*(scanner.get(f"/wp-admin/{i}.php") for i in range(16)))
    assert {a.status_code for a in answers} == {404}


async def _state(url: str, address: str) -> tuple[int, Any, int, Any]:
    """(status, body) of a runtime-family and of a /api/v1 request from `address`."""
    async with client_at(url, address) as client:
        runtime = await client.get("/api/auth/me/")
        v1 = await client.get("/api/v1/auth/profile")  # no login attempt: no evidence
    return runtime.status_code, runtime.json(), v1.status_code, v1.json()


def _seconds(event: dict[str, Any]) -> float:
    until = datetime.fromisoformat(event["blocked_until"])
    return (until - datetime.fromisoformat(event["created_at"])).total_seconds()


async def test_detected_addresses_are_blocked_then_released_and_repeat_offences_last_longer(
    serve: Any,
) -> None:
    server = await serve(
        TAICHU_ANOMALY__BLOCK_TTL_SECONDS=str(TTL),
        TAICHU_ANOMALY__BLOCK_TTL_MAX_SECONDS="600",
        **LOCKOUT_AFTER_ONE,
    )
    admin = await admin_client(server)
    async with admin:
        await lock_out(server.url, "127.0.0.21")  # 2 failures: below the threshold
        await aligned(3)
        guessed, _ = await asyncio.gather(
            _guess(server.url, "127.0.0.21"), _scan(server.url, "127.0.0.22")
        )
        assert set(guessed) == {429}  # locked out: refused before any password check
        events = await wait_for(
            lambda: _events(admin),
            lambda items: {e["detector"] for e in items} >= {"brute_force", "scanning"},
            timeout=60,
        )
        for event in events:
            assert event["mode"] == "block" and event["offence"] == 1, event
            assert event["blacklist_entry_id"] and event["evidence"]["blocked_addresses"] == [
                event["ip"]
            ]
            assert abs(_seconds(event) - TTL) < 1.5, event
        assert {(e["detector"], e["ip"]) for e in events} == {
            ("brute_force", "127.0.0.21"),
            ("scanning", "127.0.0.22"),
        }
        listed = (await admin.get("/api/anomaly/blacklist/")).json()["entries"]
        made = {e["id"]: (e["ip"].removesuffix("/32"), e["source"]) for e in listed}
        assert {made[e["blacklist_entry_id"]] for e in events} == {
            ("127.0.0.21", "brute_force"),
            ("127.0.0.22", "scanning"),
        }

        # Both families refuse the blocked addresses (403, each in its shape) ...
        for address in ("127.0.0.21", "127.0.0.22"):
            _, runtime_body, _, v1_body = await wait_for(
                lambda a=address: _state(server.url, a), lambda s: s[0] == 403 and s[2] == 403
            )
            assert "detail" in runtime_body and v1_body["code"] == 403 and v1_body["data"] is None
        # ... the admin's address and an ordinary one are not refused.
        assert (await admin.get("/api/auth/me/")).status_code == 200
        assert (await _state(server.url, "127.0.0.23"))[0] == 401
        # Guessing on while blocked is refused and not counted as evidence again.
        blocked_since = utcnow()
        assert set(await _guess(server.url, "127.0.0.21")) == {403}

        # Released when the TTL passes: the address is answered again.
        released = await wait_for(
            lambda: _state(server.url, "127.0.0.21"), lambda s: s[2] == 401, timeout=TTL + 30
        )
        assert released[0] == 401
        samples = (await admin.get("/api/anomaly/traffic/", params={"ip": "127.0.0.21"})).json()
        assert sum(s["blocked"] for s in samples["items"]) >= 12
        brute = await _events(admin, detector="brute_force")
        # The refused guesses made no event (the first burst may have filled two windows).
        assert all(datetime.fromisoformat(e["window_start"]) < blocked_since for e in brute)

        # A repeat offence: blocked again, for twice as long.
        await aligned(3)
        await _guess(server.url, "127.0.0.21")
        again = await wait_for(
            lambda: _events(admin, detector="brute_force"), lambda items: len(items) > len(brute)
        )
        newest = again[0]
        assert newest["offence"] == len(brute) + 1, again
        assert abs(_seconds(newest) - TTL * 2 ** len(brute)) < 1.5, newest
        await wait_for(lambda: _state(server.url, "127.0.0.21"), lambda s: s[2] == 403)
