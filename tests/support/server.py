"""Runs `taichu serve` as a real process, the way an operator starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env, self.port, self.log_path = env, port, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Generous: a loaded CI machine (and a first start, which hashes the admin's password)
    # has taken over 60 s to answer /readyz; the wait ends as soon as it does.
    def start(self, timeout: float = 180) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taichu.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        # Not left behind: a server that was merely slow would start later and outlive
        # the test (one did, for 90 minutes, with its job worker).
        self.kill()
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    env.update(
        {
            "TAICHU_DATABASE_URL": database_url,
            "TAICHU_DATA_DIR": str(data_dir),
            "TAICHU_LOG_LEVEL": "info",
        }
    )
    env.update(extra)
    return env


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(env, free_port(), log_path)
    server.start()
    try:
        yield server
    finally:
        server.kill(signal.SIGTERM)


def prepare_database(tmp_dir: Path, label: str) -> str:
    """A migrated database for a server process (sync wrapper for sync fixtures)."""
    import asyncio

    from tests.support.db import create_database

    return asyncio.run(create_database(str(tmp_dir), label))


def drop_prepared_database(url: str) -> None:
    import asyncio

    from tests.support.db import drop_database

    asyncio.run(drop_database(url))


def login_token(base_url: str, username: str, password: str) -> str:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["data"]["token"])
