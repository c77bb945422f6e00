"""Real worker processes (`taichu jobs worker`): a job survives its worker being killed,
and several workers share one PostgreSQL queue."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from taichu.config import Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs import diagnostics, service
from taichu.jobs.models import Job
from taichu.lab.procs import LabProcess, tail
from tests.jobs.helpers import load, wait_for

REPO = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2

pytestmark = pytest.mark.slow


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        "TAICHU_DATABASE_URL": settings.resolved_database_url,
        "TAICHU_DATA_DIR": str(settings.data_dir),
        "TAICHU_SECRET_KEY": settings.secret_key or "",
        "TAICHU_LOG_LEVEL": "info",
        "TAICHU_JOBS__LEASE_SECONDS": str(LEASE_SECONDS),
        "TAICHU_JOBS__POLL_INTERVAL_SECONDS": "0.1",
        "TAICHU_JOBS__CONCURRENCY": "4",
    }


def taichu(*args: str) -> list[str]:
    return [sys.executable, "-m", "taichu.cli", *args]


def run_cli(settings: Settings, *args: str) -> str:
    return subprocess.run(
        taichu(*args), env={**os.environ, **worker_env(settings)}, cwd=REPO,
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[list[LabProcess]]:
    started: list[LabProcess] = []
    yield started
    for proc in started:
        proc.stop()


async def start_worker(
    name: str, settings: Settings, tmp_path: Path, started: list[LabProcess]
) -> LabProcess:
    proc = LabProcess(
        name,
        taichu("jobs", "worker"),
        tmp_path / f"{name}.log",
        env=worker_env(settings),
        cwd=REPO,
    )
    proc.start()
    started.append(proc)
    deadline = time.monotonic() + 30
    while "job runner" not in tail(proc.log_path) or " started" not in tail(proc.log_path):
        proc.check()
        assert time.monotonic() < deadline, proc.failure("did not start")
        await asyncio.sleep(0.1)
    return proc


def marker_lines(marker_dir: Path, job_id: str) -> list[list[str]]:
    path = marker_dir / f"{job_id}.log"
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines()]


async def test_job_survives_sigkill_of_its_worker(
    ctx: AppContext, settings: Settings, tmp_path: Path, workers: list[LabProcess]
) -> None:
    marker_dir = tmp_path / "markers"
    first = await start_worker("worker-1", settings, tmp_path, workers)
    enqueued = await asyncio.to_thread(
        run_cli, settings, "jobs", "enqueue-diagnostic", "--steps", "6",
        "--step-seconds", "0.5", "--marker-dir", str(marker_dir),
    )  # fmt: skip
    job_id = enqueued.split()[-1]

    deadline = time.monotonic() + 20
    while not marker_lines(marker_dir, job_id):
        first.check()
        assert time.monotonic() < deadline, first.failure("the job never started")
        await asyncio.sleep(0.05)
    assert first.pid is not None
    os.killpg(first.pid, signal.SIGKILL)  # no shutdown, no release: the lease just stops
    assert first.popen is not None
    first.popen.wait(10)
    job = await load(ctx, job_id)
    assert job.status == "running" and job.attempts == 1

    second = await start_worker("worker-2", settings, tmp_path, workers)
    job = await wait_for(ctx, job_id, within=30)
    assert job.status == "succeeded", (job.error, tail(second.log_path))
    assert job.attempts == 2 and job.result == {"steps": 6, "pid": second.pid}
    lines = marker_lines(marker_dir, job_id)
    assert [line[0] for line in lines] == ["start", "start", "done"], lines
    assert lines[0][1:] == [job_id, "1", str(first.pid)]
    assert lines[1][1:] == [job_id, "2", str(second.pid)]
    assert lines[2][1:] == [job_id, str(second.pid)]

    counts = await asyncio.to_thread(run_cli, settings, "jobs", "list")
    assert "running    0" in counts and "failed     0" in counts, counts
    # Periodic work of other domains may have run beside it: this kind's rows only.
    async with ctx.sessions() as session:
        statuses = (await session.scalars(select(Job.status).where(Job.kind == job.kind))).all()
    assert list(statuses) == ["succeeded"]


async def test_two_workers_drain_a_shared_postgres_queue(
    ctx: AppContext, settings: Settings, tmp_path: Path, workers: list[LabProcess]
) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("several worker processes share a queue only on PostgreSQL")
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    procs = [await start_worker(f"worker-{n}", settings, tmp_path, workers) for n in (1, 2)]
    payload = {"steps": 1, "step_seconds": 0.02, "marker_dir": str(marker_dir)}
    async with transaction(ctx.sessions) as session:
        ids = [
            (await service.enqueue(session, diagnostics.SLEEP_KIND, dict(payload))).id
            for _ in range(200)
        ]

    deadline = time.monotonic() + 60
    while True:
        # Only these 200: the workers enqueue jobs of their own (periodic ones) as well.
        async with transaction(ctx.sessions) as session:
            counts = await service.counts_by_status(session, ids)
        if counts["succeeded"] == len(ids):
            break
        for proc in procs:
            proc.check()
        assert counts["failed"] == 0 and time.monotonic() < deadline, counts
        await asyncio.sleep(0.2)

    done_by: dict[str, int] = {}
    for job_id in ids:
        done = [line for line in marker_lines(marker_dir, job_id) if line[0] == "done"]
        assert len(done) == 1, (job_id, done)
        done_by[done[0][2]] = done_by.get(done[0][2], 0) + 1
    assert set(done_by) == {str(p.pid) for p in procs}, done_by  # both did some

    # SIGTERM is a graceful stop: nothing running, so a clean exit.
    for proc in procs:
        assert proc.popen is not None and proc.pid is not None
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.popen.wait(30) == 0, tail(proc.log_path)
