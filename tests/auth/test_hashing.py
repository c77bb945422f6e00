"""Finding 14: password hashing never runs on the event loop (it stalled every request
while a login burst lasted)."""

from __future__ import annotations

import asyncio
import time

import httpx
from argon2 import PasswordHasher

from tests.conftest import ADMIN_PASSWORD


async def test_a_login_burst_does_not_stall_the_event_loop(client: httpx.AsyncClient) -> None:
    hasher = PasswordHasher()
    started = time.perf_counter()
    await asyncio.to_thread(hasher.hash, "the duration of one hash, on this machine now")
    one_hash = time.perf_counter() - started
    stalls: list[float] = []
    done = asyncio.Event()

    async def watch_the_loop() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            stalls.append(time.perf_counter() - before - 0.002)

    async def burst() -> None:
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
        responses = await asyncio.gather(*logins, *registrations)
        assert sorted({r.status_code for r in responses}) == [200, 401]

    watcher = asyncio.create_task(watch_the_loop())
    try:
        await asyncio.wait_for(burst(), timeout=120)
    finally:
        done.set()
        await watcher
    # Sixteen hashes on the loop would hold it for a whole hash at least sixteen times.
    assert max(stalls) < one_hash / 2, (max(stalls), one_hash)
