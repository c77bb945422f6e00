"""Runs the job workers of `taichu serve` in a child process, so the cluster work of jobs
(health probes of thousands of clusters, backups) never competes with API requests for
one event loop. The child dies with the server (PR_SET_PDEATHSIG: a SIGKILLed server
leaves no worker behind), is restarted if it exits, and is stopped with SIGTERM (graceful,
its own grace period) when the server shuts down."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys

from taichu.config import Settings

log = logging.getLogger("taichu.jobs")

PR_SET_PDEATHSIG = 1
MAX_RESTART_DELAY_SECONDS = 30.0


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class WorkerSupervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="job-worker-supervisor")

    async def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "taichu.cli",
                "jobs",
                "worker",
                preexec_fn=_die_with_parent,  # runs in the child between fork and exec
            )
            log.info("job worker started (pid %d)", self._proc.pid)
            code = await self._proc.wait()
            if self._stopping:
                return
            log.warning("job worker exited (%s); restarting in %.0fs", code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.settings.jobs.shutdown_grace_seconds + 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
