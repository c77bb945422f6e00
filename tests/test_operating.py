"""Operating it for real, with real processes: one installation secret per database,
commands run from the wrong directory, and a data dir only its owner can read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.db import BACKEND
from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    prepare_database,
    running_server,
    server_env,
)

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "Operating-Admin-1"
OTHER_SECRET = "refused: another secret"


def taichu(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taichu.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    env.update(extra)
    return env


def assert_refused(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_process_with_another_secret_refuses_to_start(tmp_path: Path) -> None:
    url = prepare_database(tmp_path, "secret")
    first = tmp_path / "first"
    try:
        # The first process (no TAICHU_SECRET_KEY) generates the secret and records it.
        env = server_env(url, first, TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD)
        with running_server(env, tmp_path / "serve.log"):
            assert (first / "secret.key").exists()
            # A worker with its own data dir would have generated a second secret.
            fresh = tmp_path / "fresh"
            worker = taichu(server_env(url, fresh), "jobs", "worker")
            assert_refused(
                worker,
                "this database belongs to an installation with another secret",
                "set TAICHU_SECRET_KEY to the installation's secret or copy data/secret.key",
            )
            assert not (fresh / "secret.key").exists()  # the fresh secret is not left behind
            # Another secret, given explicitly: serve, worker and admin commands refuse.
            other = server_env(url, tmp_path / "other", TAICHU_SECRET_KEY=OTHER_SECRET)
            second = ServerProcess(other, free_port(), tmp_path / "second.log")
            with pytest.raises(RuntimeError, match="exited early"):
                second.start(timeout=90)
            assert second.proc is not None and second.proc.returncode != 0
            assert "another secret" in second.log() and "Traceback" not in second.log()
            assert_refused(taichu(other, "jobs", "worker"), "another secret")
            assert_refused(
                taichu(other, "admin", "reset-password", "admin", "--password", "New-Pass-123"),
                "another secret",
            )
            assert_refused(taichu(other, "audit", "verify"), "another secret")
            # The installation's own secret is accepted by the same commands.
            secret = (first / "secret.key").read_text().strip()
            shared = server_env(url, tmp_path / "shared", TAICHU_SECRET_KEY=secret)
            verified = taichu(shared, "audit", "verify")
            assert verified.returncode == 0, verified.stderr
            listed = taichu(server_env(url, first), "jobs", "list")
            assert listed.returncode == 0, listed.stderr
    finally:
        drop_prepared_database(url)


def test_commands_from_another_directory_refuse_without_creating_anything(
    tmp_path: Path,
) -> None:
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = clean_env()
    expected = f"no database at {cwd}/data/taichu.db (set TAICHU_DATA_DIR or --data-dir"
    for args in (
        ("admin", "reset-password", "admin", "--password", "New-Pass-123"),
        ("audit", "verify"),
        ("migrate",),
        ("jobs", "list"),
        ("jobs", "worker"),
    ):
        assert_refused(taichu(env, *args, cwd=cwd), expected)
    assert list(cwd.iterdir()) == []  # no ./data, no secret.key

    # `migrate` creates a SQLite database where it is told to, owner-only.
    created = taichu(env, "migrate", "--data-dir", str(cwd / "explicit"), cwd=cwd)
    assert created.returncode == 0, created.stderr
    assert mode(cwd / "explicit") == 0o700 and mode(cwd / "explicit" / "taichu.db") == 0o600
    # Schema present but no installation secret yet: an admin command says so.
    assert_refused(
        taichu(env, "audit", "verify", "--data-dir", str(cwd / "explicit"), cwd=cwd),
        "no installation secret here",
    )
    assert not (cwd / "explicit" / "secret.key").exists()


def test_expected_database_failures_are_one_sentence(tmp_path: Path) -> None:
    closed = f"postgresql+asyncpg://taichu:pw-not-shown@127.0.0.1:{free_port()}/nothing"
    cases = {
        closed: "cannot use the database at postgresql+asyncpg://taichu:***@127.0.0.1",
        "not a url": "TAICHU_DATABASE_URL is not a database URL",
        "mysql://user@host/db": "unsupported database URL mysql://user@host/db",
    }
    for url, phrase in cases.items():
        for args in (("audit", "verify"), ("migrate",), ("serve", "--port", str(free_port()))):
            result = taichu(clean_env(TAICHU_DATABASE_URL=url), *args, cwd=tmp_path)
            assert_refused(result, phrase)
            assert "pw-not-shown" not in result.stderr
    # A database nobody migrated: serve (on PostgreSQL), worker and commands name the fix.
    empty = prepare_database(tmp_path, "unmigrated-base")
    try:
        unmigrated = _unmigrated(tmp_path, empty)
        env = server_env(unmigrated, tmp_path / "data", TAICHU_SECRET_KEY=OTHER_SECRET)
        commands = [("audit", "verify"), ("jobs", "worker")]
        if BACKEND != "sqlite":  # SQLite `serve` migrates its own database
            commands.append(("serve", "--port", str(free_port())))
        for args in commands:
            assert_refused(taichu(env, *args), "database schema missing: run `taichu migrate`")
        migrated = taichu(env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert taichu(env, "audit", "verify").returncode == 0
    finally:
        drop_prepared_database(empty)


def _unmigrated(tmp_path: Path, migrated_url: str) -> str:
    """An empty database beside the migrated one (same server, same credentials)."""
    if BACKEND == "sqlite":
        path = tmp_path / "unmigrated.db"
        path.touch()
        return f"sqlite+aiosqlite:///{path}"
    import asyncio

    import asyncpg

    from tests.support.db import PG_ADMIN_URL

    name = migrated_url.rsplit("/", 1)[1] + "_empty"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return migrated_url.rsplit("/", 1)[0] + f"/{name}"


def test_data_dir_and_its_files_are_owner_only(tmp_path: Path) -> None:
    url = prepare_database(tmp_path, "modes")
    data = tmp_path / "data"
    # An older installation's data dir, created with the usual umask.
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # noqa: S103 - what is being fixed
    (data / "backups").mkdir()
    os.chmod(data / "backups", 0o755)  # noqa: S103
    (data / "backups" / "old.tbk").write_bytes(b"archive")
    os.chmod(data / "backups" / "old.tbk", 0o644)
    if BACKEND == "sqlite":
        url = f"sqlite+aiosqlite:///{data}/taichu.db"  # the embedded default: in the data dir
    try:
        env = server_env(url, data, TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD)
        with running_server(env, tmp_path / "serve.log") as server:
            paths = [data, *data.rglob("*")]
            names = {p.name for p in paths}
            assert {"secret.key", "backups", "tmp", "old.tbk"} <= names
            if BACKEND == "sqlite":
                assert {"taichu.db", "taichu.db-wal", "taichu.db-shm"} <= names
            for path in paths:
                want = 0o700 if path.is_dir() else 0o600
                assert mode(path) == want, f"{path}: {oct(mode(path))}"
            assert "removed group/other access from" in server.log()
    finally:
        drop_prepared_database(url)


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's one-worker rule")
def test_sqlite_serve_is_quiet_and_a_second_worker_says_why(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = server_env(
        f"sqlite+aiosqlite:///{data}/taichu.db", data, TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD
    )
    with running_server(env, tmp_path / "serve.log") as server:
        deadline = time.monotonic() + 60
        while "job runner" not in server.log():
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.2)
        warnings = [line for line in server.log().splitlines() if "WARNING" in line]
        assert warnings == []  # nothing is wrong: nothing to warn about
        log = (tmp_path / "worker.log").open("wb")
        second = subprocess.Popen(
            [sys.executable, "-m", "taichu.cli", "jobs", "worker"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "runs the jobs of the SQLite database" not in (text := _read(tmp_path)):
                assert second.poll() is None, text
                assert time.monotonic() < deadline, text
                time.sleep(0.2)
            assert "Several replicas need PostgreSQL" in text
            assert "job runner" not in text  # it waits instead of requeueing running jobs
        finally:
            second.terminate()
            second.wait(timeout=30)
    assert second.returncode == 0


def _read(tmp_path: Path) -> str:
    return (tmp_path / "worker.log").read_text(errors="replace")
