"""Finding 14: password hashing never runs on the event loop (it stalled every request
while a login burst lasted)."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher

from taichu.auth import passwords
from tests.conftest import ADMIN_PASSWORD


class _WatchedHasher(PasswordHasher):
    """The real argon2 hasher, noting which thread each hash and verification ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.threads.append(threading.current_thread())
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.threads.append(threading.current_thread())
        return super().verify(hash, password)


async def test_a_login_burst_does_not_stall_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the hashing runs, not how long the loop stalls: on a loaded machine the whole
    # process is descheduled for longer than a hash (a 0.65 s "stall" beside a 0.36 s
    # hash was seen), so wall-clock stalls cannot tell. Latency is bench/login_flood.py's.
    watched = _WatchedHasher()
    monkeypatch.setattr(passwords, "_hasher", watched)

    logins = [
        client.post("/api/v1/auth/login", json={"username": name, "password": ADMIN_PASSWORD})
        for name in ["admin", "ghost0", "admin", "ghost1", "admin", "ghost2"] * 2
    ]
    registrations = [
        client.post(
            "/api/v1/auth/register", json={"username": f"burst{i}", "password": "s3cret-pass"}
        )
        for i in range(4)
    ]
    responses = await asyncio.wait_for(asyncio.gather(*logins, *registrations), timeout=120)
    assert sorted({r.status_code for r in responses}) == [200, 401]
    # Every login verified (unknown users against the dummy hash), every sign-up hashed,
    # each on a hashing thread, none on the event loop's.
    assert len(watched.threads) >= 16
    loop_thread = threading.current_thread()
    assert all(t is not loop_thread for t in watched.threads)
    assert {t.name.split("_")[0] for t in watched.threads} == {"taichu-password"}
