"""A real `taichu serve` per test, configured by environment like an operator would."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    prepare_database,
    server_env,
)

EDGE_ADMIN_PASSWORD = "Edge-Admin-2026"


@pytest.fixture
def edge_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`edge_server(TAICHU_X="...")` starts a server on a fresh database; stopped at the end."""
    started: list[tuple[ServerProcess, str]] = []

    def _start(**env: str) -> ServerProcess:
        n = len(started)
        url = prepare_database(tmp_path, f"edge{n}")
        full_env = server_env(
            url,
            tmp_path / f"data{n}",
            TAICHU_ADMIN_PASSWORD=EDGE_ADMIN_PASSWORD,
            TAICHU_SECRET_KEY="edge-secret-key-0123456789abcdef0123",
            TAICHU_JOBS__ENABLED="false",
            **env,
        )
        server = ServerProcess(full_env, free_port(), tmp_path / f"server{n}.log")
        started.append((server, url))
        server.start()
        return server

    yield _start
    for server, url in reversed(started):
        server.kill(signal.SIGTERM)
        drop_prepared_database(url)
