"""A real `taichu serve` for machine tests, with its database URL, data dir and log at
hand (the secrets test reads all three), and helpers over its HTTP API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from taichu.db.session import make_engine
from tests.clusters.serving import ADMIN_PASSWORD, USER_PASSWORD
from tests.support.server import (
    drop_prepared_database,
    login_token,
    prepare_database,
    running_server,
    server_env,
)


@dataclass
class Inventory:
    url: str
    admin: dict[str, str]
    database_url: str
    data_dir: Path
    log_path: Path

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}",
            json=body,
            headers=self.admin if headers is None else headers,
            timeout=60,
        )

    def put(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.put(
            f"{self.url}{path}",
            json=body,
            headers=self.admin if headers is None else headers,
            timeout=60,
        )

    def get(
        self, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}",
            params=params,
            headers=self.admin if headers is None else headers,
            timeout=60,
        )

    def delete(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.delete(
            f"{self.url}{path}", headers=self.admin if headers is None else headers, timeout=60
        )

    def machine(self, machine_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/machines/{machine_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def count(self) -> int:
        return int(self.get("/api/v1/machines").json()["data"]["total"])

    def new_user(self, name: str) -> dict[str, str]:
        registered = httpx.post(
            f"{self.url}/api/auth/register/",
            json={"username": name, "password": USER_PASSWORD},
            timeout=30,
        )
        assert registered.status_code in (200, 201), registered.text
        return {"Authorization": f"Bearer {login_token(self.url, name, USER_PASSWORD)}"}

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run SQL on the server's database (to put a machine where no endpoint can: a
        cluster's `in_use`), returning the rows of a SELECT."""

        async def run() -> list[Any]:
            engine = make_engine(self.database_url)
            try:
                async with engine.begin() as conn:
                    result = await conn.execute(text(statement), params)
                    return list(result.all()) if result.returns_rows else []
            finally:
                await engine.dispose()

        # A thread of its own: async tests call this from inside their event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result()


@contextmanager
def serve_inventory(tmp_path: Path, label: str, **env: str) -> Iterator[Inventory]:
    url = prepare_database(tmp_path, label)
    data_dir = tmp_path / f"data-{label}"
    log_path = tmp_path / f"server-{label}.log"
    full_env = server_env(
        url,
        data_dir,
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY=f"machines-secret-{label}-0123456789abcdef",
        **env,
    )
    try:
        with running_server(full_env, log_path) as server:
            token = login_token(server.url, "admin", ADMIN_PASSWORD)
            yield Inventory(
                server.url, {"Authorization": f"Bearer {token}"}, url, data_dir, log_path
            )
    finally:
        drop_prepared_database(url)


def machine_body(name: str, address: str, /, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "ip_address": address,
        "user": "root",
        "password": "not-a-real-password",
        "role": "worker",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says anything (a machine that accepts
    TCP and never speaks SSH)."""
    server = socket.socket()
    server.bind(("0.0.0.0", 0))  # every 127.0.0.x reaches it (127.0.0.1 alone would not)
    server.listen(256)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for s in held:
            s.close()
