"""Real `taichu serve` processes for the blacklist, and clients that connect from chosen
loopback addresses (127.0.0.x: on Linux the whole /8 reaches a server on 127.0.0.1)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    login_token,
    prepare_database,
    server_env,
)

ADMIN_PASSWORD = "Blacklist-Admin-2026"
SECRET = "blacklist-secret-key-0123456789abcdef"
# Hits are written in batches; short here so tests see them soon.
BASE_ENV = {"TAICHU_BLACKLIST__HITS_FLUSH_SECONDS": "0.5"}


class Servers:
    """Starts servers; `same_database=` makes a replica of an earlier one."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[ServerProcess] = []
        self.databases: list[str] = []

    def start(self, database_url: str | None = None, **env: str) -> ServerProcess:
        n = len(self.started)
        if database_url is None:
            database_url = prepare_database(self.tmp, f"bl{n}")
            self.databases.append(database_url)
        full_env = server_env(
            database_url,
            self.tmp / f"data{n}",
            TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
            TAICHU_SECRET_KEY=SECRET,
            TAICHU_JOBS__ENABLED="false",
            **{**BASE_ENV, **env},
        )
        server = ServerProcess(full_env, free_port(), self.tmp / f"server{n}.log")
        self.started.append(server)
        server.start()
        return server

    def close(self) -> None:
        for server in reversed(self.started):
            server.kill(signal.SIGTERM)
        for url in self.databases:
            drop_prepared_database(url)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    started = Servers(tmp_path_factory.mktemp("blacklist"))
    yield started
    started.close()


@pytest.fixture(scope="module")
def server(servers: Servers) -> ServerProcess:
    """One server for a module's tests; each test uses addresses of its own."""
    return servers.start()


def admin_token(server: ServerProcess) -> str:
    return login_token(server.url, "admin", ADMIN_PASSWORD)


Connect = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """`connect(server, "127.0.0.21", token=...)`: a client whose TCP connections come
    from that address."""
    clients: list[httpx.AsyncClient] = []

    def _connect(server: ServerProcess, address: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            base_url=server.url,
            transport=httpx.AsyncHTTPTransport(local_address=address),
            headers=headers,
            timeout=30,
        )
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.aclose()


def blocked_v1(address: str) -> dict[str, object]:
    return {"code": 403, "message": f"Forbidden: requests from {address} are blocked", "data": None}


def blocked_runtime(address: str) -> dict[str, object]:
    return {"detail": f"Forbidden: requests from {address} are blocked"}
