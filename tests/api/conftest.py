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
EDGE_SECRET_KEY = "edge-secret-key-0123456789abcdef0123"


@pytest.fixture
def edge_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`edge_server(TAICHU_X="...")` starts a server on a fresh database; stopped at the end.
    A variable given overrides the one set here; `unset=("TAICHU_X",)` leaves one of these
    out (e.g. the admin password, for a first start on the bootstrap password)."""
    started: list[tuple[ServerProcess, str]] = []

    def _start(*, unset: tuple[str, ...] = (), **env: str) -> ServerProcess:
        n = len(started)
        url = prepare_database(tmp_path, f"edge{n}")
        settings = {
            "TAICHU_ADMIN_PASSWORD": EDGE_ADMIN_PASSWORD,
            "TAICHU_SECRET_KEY": EDGE_SECRET_KEY,
            "TAICHU_JOBS__ENABLED": "false",
            **env,
        }
        for name in unset:
            del settings[name]
        full_env = server_env(url, tmp_path / f"data{n}", **settings)
        server = ServerProcess(full_env, free_port(), tmp_path / f"server{n}.log")
        started.append((server, url))
        server.start()
        return server

    yield _start
    for server, url in reversed(started):
        server.kill(signal.SIGTERM)
        drop_prepared_database(url)
