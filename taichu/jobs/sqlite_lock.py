"""On SQLite one process runs the jobs (it requeues every running job at start, as left
by a process that died). A lock file beside the database makes sure of it: a second
worker — say, of a second `serve` on the same data dir — waits, saying why, and takes
over when the first one stops."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os

from taichu.config import Settings
from taichu.datadir import FILE_MODE, sqlite_path

log = logging.getLogger("taichu.jobs")
RETRY_SECONDS = 1.0


async def sqlite_worker_lock(settings: Settings, stop: asyncio.Event) -> int | None:
    """The held lock's file descriptor (close it to release), or None if `stop` was set
    while another process held it."""
    database = sqlite_path(settings.resolved_database_url)
    if database is None:  # in-memory: nobody else can share it
        return os.open(os.devnull, os.O_RDONLY)
    path = database.with_name(database.name + ".jobs-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    warned = False
    while not stop.is_set():
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not warned:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                log.warning(
                    "another process (pid %s) runs the jobs of the SQLite database %s; this "
                    "worker waits until it stops. Several replicas need PostgreSQL.",
                    holder,
                    database,
                )
                warned = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        if warned:
            log.info("took over the jobs of %s", database)
        return fd
    os.close(fd)
    return None
