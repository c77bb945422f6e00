"""Built-in diagnostic job kinds: "is the job system alive?" for operators, and the
workload of the crash tests.

`diagnostic.sleep` payload: `steps` (default 3), `step_seconds` (default 1.0) and an
optional `marker_dir`. With a marker dir, the job appends `start <job_id> <attempt> <pid>`
when an attempt starts and `done <job_id> <pid>` when it finishes to
`<marker_dir>/<job_id>.log`. `marker_dir` is a path on the worker's machine: only
operators (CLI) should set it, never an API caller."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from taichu.jobs.errors import PermanentJobError
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.registry import JobRegistry

SLEEP_KIND = "diagnostic.sleep"
MAX_STEPS = 10_000
MAX_STEP_SECONDS = 3600.0


def _append(path: Path, line: str) -> None:
    # One O_APPEND write per line: lines from concurrent or successive workers never
    # interleave or overwrite each other, and a killed worker leaves whole lines.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _number(payload: dict[str, Any], key: str, default: float, upper: float) -> float:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        raise PermanentJobError(f"payload field '{key}' must be a number from 0 to {upper:g}")
    return float(value)


async def sleep_job(job: JobContext) -> dict[str, Any]:
    steps = int(_number(job.payload, "steps", 3, MAX_STEPS))
    step_seconds = _number(job.payload, "step_seconds", 1.0, MAX_STEP_SECONDS)
    marker_dir = job.payload.get("marker_dir")
    if marker_dir is not None and not isinstance(marker_dir, str):
        raise PermanentJobError("payload field 'marker_dir' must be a path")
    marker = Path(marker_dir) / f"{job.job_id}.log" if marker_dir else None
    pid = os.getpid()
    if marker is not None:
        await asyncio.to_thread(_append, marker, f"start {job.job_id} {job.attempt} {pid}\n")
    await job.progress(0, f"step 0/{steps}")
    for index in range(1, steps + 1):
        await asyncio.sleep(step_seconds)
        await job.progress(100 * index / steps, f"step {index}/{steps}")
    if marker is not None:
        await asyncio.to_thread(_append, marker, f"done {job.job_id} {pid}\n")
    return {"steps": steps, "pid": pid}


def register(registry: JobRegistry) -> None:
    registry.handler(SLEEP_KIND, max_attempts=3)(sleep_job)
