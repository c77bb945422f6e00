"""The whole server process is SIGKILLed in the middle of a job; after a restart the job
finishes, exactly once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taichu.config import Settings
from taichu.context import AppContext
from taichu.jobs.models import Job
from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    prepare_database,
    server_env,
)


def _job_status(env: dict[str, str], job_id: str) -> str:
    async def load() -> str:
        ctx = AppContext.create(
            Settings(
                database_url=env["TAICHU_DATABASE_URL"],
                data_dir=Path(env["TAICHU_DATA_DIR"]),
                secret_key=env["TAICHU_SECRET_KEY"],
            )
        )
        try:
            async with ctx.sessions() as session:
                job = await session.get(Job, job_id)
                return job.status if job else "missing"
        finally:
            await ctx.close()

    return asyncio.run(load())


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_server_killed_mid_job_finishes_it_exactly_once_after_restart(tmp_path: Path) -> None:
    url = prepare_database(tmp_path, "serve-crash")
    env = server_env(
        url,
        tmp_path / "data",
        TAICHU_SECRET_KEY="crash-test-secret-0123456789",
        TAICHU_ADMIN_PASSWORD="Crash-Admin-1",
        TAICHU_JOBS__LEASE_SECONDS="2",
    )
    markers = tmp_path / "markers"
    server = ServerProcess(env, free_port(), tmp_path / "server.log")
    try:
        server.start()
        enqueued = subprocess.run(
            [
                sys.executable,
                "-m",
                "taichu.cli",
                "jobs",
                "enqueue-diagnostic",
                "--steps",
                "8",
                "--step-seconds",
                "0.5",
                "--marker-dir",
                str(markers),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        job_id = enqueued.stdout.split()[0]
        marker = markers / f"{job_id}.log"
        _wait(lambda: marker.exists() and "start" in marker.read_text(), 30, "the job to start")
        time.sleep(1.0)  # well into the job, not finished (8 x 0.5 s)
        server.kill(signal.SIGKILL)
        assert "done" not in marker.read_text()
        assert _job_status(env, job_id) == "running"  # as the dead process left it

        server.start()
        _wait(lambda: _job_status(env, job_id) in ("succeeded", "failed"), 60, "the job to end")
        assert _job_status(env, job_id) == "succeeded"
        lines = marker.read_text().splitlines()
        starts = [line for line in lines if line.startswith("start")]
        dones = [line for line in lines if line.startswith("done")]
        assert len(starts) == 2 and len(dones) == 1, lines
        assert starts[0].split()[3] != starts[1].split()[3]  # two different processes
    finally:
        server.kill(signal.SIGTERM)
        drop_prepared_database(url)
