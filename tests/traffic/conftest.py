"""Real `taichu serve` processes with short sample windows, and clients that reach them
from loopback addresses of their own (127.0.0.x, through the socket's source address)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    login_token,
    prepare_database,
    server_env,
)

SECRET = "traffic-tests-secret-0123456789abcdef"
# Short windows so tests wait seconds, not minutes; thresholds small to match.
FAST = {
    "TAICHU_ANOMALY__WINDOW_SECONDS": "3",
    "TAICHU_ANOMALY__DETECT_INTERVAL_SECONDS": "1",
    "TAICHU_ANOMALY__SETTLE_SECONDS": "0.5",
    "TAICHU_ANOMALY__BRUTE_FORCE_FAILURES": "4",
    "TAICHU_ANOMALY__STUFFING_USERNAMES": "50",
    "TAICHU_ANOMALY__SCANNING_PATHS": "8",
    # Login slow-down out of the way: these tests count failures, not wait on them.
    "TAICHU_AUTH__LOGIN_SLOWDOWN_AFTER": "1000",
    "TAICHU_JOBS__POLL_INTERVAL_SECONDS": "0.2",
}


WRONG = {"username": "root", "password": "not-the-password"}
# With one failure allowed, a user's later logins from that address are refused (429)
# before any password check, and each refusal still counts as a failed login.
LOCKOUT_AFTER_ONE = {"TAICHU_AUTH__LOGIN_MAX_FAILURES": "1"}


def client_at(base_url: str, address: str, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=base_url,
        transport=httpx.AsyncHTTPTransport(local_address=address),
        headers=headers,
        timeout=60,
    )


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url = prepare_database(tmp_path, "traffic")
    yield url
    drop_prepared_database(url)


@pytest.fixture
async def serve(tmp_path: Path, database: str) -> AsyncIterator[Callable[..., Any]]:
    """`server = await serve(**env)`: a started `taichu serve` on the test's database."""
    started: list[ServerProcess] = []

    async def _serve(**extra: str) -> ServerProcess:
        env = server_env(
            database,
            tmp_path / "data",
            TAICHU_SECRET_KEY=SECRET,
            TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
            **{**FAST, **extra},
        )
        server = ServerProcess(env, free_port(), tmp_path / f"server{len(started)}.log")
        started.append(server)
        await asyncio.to_thread(server.start)
        return server

    yield _serve
    for server in started:
        await asyncio.to_thread(server.kill, 15)


async def lock_out(url: str, address: str) -> None:
    """One wrong login for WRONG's user from `address` (on a server started with
    LOCKOUT_AFTER_ONE). A burst of guesses after it is answered without hashing, so it lands
    in one sample window however slowly the server verifies passwords: one low-priority
    hashing thread on a loaded machine checks fewer than one a second, and a burst of
    twelve checked ones spread over windows of three seconds with fewer than four each."""
    async with client_at(url, address) as guesser:
        first = await guesser.post("/api/v1/auth/login", json=WRONG)
        assert first.status_code == 401, first.text
        locked = await guesser.post("/api/v1/auth/login", json=WRONG)
        assert locked.status_code == 429, locked.text


async def admin_client(server: ServerProcess) -> httpx.AsyncClient:
    """An admin's client from 127.0.0.1 (close it)."""
    token = await asyncio.to_thread(login_token, server.url, "admin", ADMIN_PASSWORD)
    return client_at(server.url, "127.0.0.1", token)


async def aligned(window: float, margin: float = 0.3) -> None:
    """Wait for the start of a sample window, so a short burst falls in one window."""
    into = time.time() % window
    if into > margin:
        await asyncio.sleep(window - into)
