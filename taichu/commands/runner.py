"""Running one kubectl: never a shell, a kubeconfig made for this run only, a scrubbed
environment, a time limit that kills the whole process group, bounded output.

The kubeconfig lives in memory (a memfd handed to kubectl as `/proc/self/fd/N`) where the
kernel has them, else in a 0600 file of a private directory removed as soon as the run
ends. kubectl's working directory and HOME are an empty private directory of its own
(removed too), so nothing of the server's home (`~/.kube/config`, kuberc) is seen; only
the discovery cache of the cluster is kept between runs (in the data dir).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from taichu.datadir import private_dir
from taichu.errors import Unavailable

CHUNK = 64 * 1024  # one read of a pipe: the buffer is bounded whatever kubectl writes

_DEVNULL = asyncio.subprocess.DEVNULL

DONE, FAILED, TIMEOUT, REFUSED = "done", "failed", "timeout", "refused"
STATUSES = (DONE, FAILED, TIMEOUT, REFUSED)


@dataclass(frozen=True)
class Invocation:
    binary: str  # the real kubectl executable
    argv: list[str]  # from the policy: argv[0] == "kubectl"
    kubeconfig: str  # the caller's identity and the cluster's address and trust
    stdin: bytes | None  # the request's manifest (the policy allows only `-f -` then)
    timeout: float
    max_output: int  # bytes kept of stdout and of stderr, each
    # kubectl's discovery cache for this cluster, shared by its runs (None: a fresh one in
    # the run's HOME). Discovery answers the same to every authenticated identity.
    cache_dir: Path | None = None


@dataclass(frozen=True)
class Outcome:
    status: str  # done | failed | timeout
    returncode: int | None  # None after a timeout (killed)
    stdout: bytes
    stderr: bytes
    stdout_bytes: int  # written by kubectl, kept or not
    stderr_bytes: int
    truncated: bool
    duration_ms: int


class _Capped:
    """What one pipe said, kept up to `limit` bytes; the rest is read, counted, dropped."""

    def __init__(self, limit: int) -> None:
        self.limit, self.total = limit, 0
        self.kept = bytearray()

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(CHUNK):
            self.total += len(chunk)
            room = self.limit - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.kept)


def scrubbed_env(home: Path, kubeconfig_path: str, cache_dir: Path) -> dict[str, str]:
    """Only what kubectl needs: no proxy variables, no HOME of the server, no KUBECONFIG
    but this run's. kuberc (kubectl's user preferences, aliases) is off."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "KUBECONFIG": kubeconfig_path,
        "KUBECACHEDIR": str(cache_dir),
        "KUBERC": "off",
        "LANG": "C.UTF-8",
    }


@contextlib.contextmanager
def _kubeconfig(text: str) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(path kubectl reads, descriptors it must inherit); gone when the block ends."""
    data = text.encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("taichu-kubeconfig", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            yield f"/proc/self/fd/{fd}", (fd,)
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="taichu-kubeconfig-") as tmp:  # 0700
        path = Path(tmp) / "config"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield str(path), ()


def _prepare(cache_dir: Path | None) -> str:
    if cache_dir is not None:
        private_dir(cache_dir)
    return tempfile.mkdtemp(prefix="taichu-kubectl-")  # 0700, empty


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The group is kubectl's own (start_new_session): whatever it started dies with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _feed(proc: asyncio.subprocess.Process, data: bytes | None) -> None:
    if proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            proc.stdin.write(data)
            await proc.stdin.drain()
        proc.stdin.close()


async def run(inv: Invocation) -> Outcome:
    """Run kubectl once, as described. Raises Unavailable when it cannot be started."""
    home = Path(await asyncio.to_thread(_prepare, inv.cache_dir))
    cache_dir = inv.cache_dir or home / "cache"
    out, err = _Capped(inv.max_output), _Capped(inv.max_output)
    started = time.monotonic()
    try:
        with _kubeconfig(inv.kubeconfig) as (config_path, fds):
            try:
                proc = await asyncio.create_subprocess_exec(
                    inv.binary,
                    *inv.argv[1:],
                    stdin=asyncio.subprocess.PIPE if inv.stdin is not None else _DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=home,
                    env=scrubbed_env(home, config_path, cache_dir),
                    pass_fds=fds,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as e:
                raise Unavailable(f"kubectl cannot be started ({inv.binary}): {e}") from e
            assert proc.stdout is not None and proc.stderr is not None
            work = asyncio.gather(
                _feed(proc, inv.stdin), out.drain(proc.stdout), err.drain(proc.stderr)
            )
            timed_out = False
            try:
                await asyncio.wait_for(asyncio.shield(work), inv.timeout)
                returncode = await asyncio.wait_for(proc.wait(), max(0.1, _left(started, inv)))
            except TimeoutError:
                timed_out = True
                _kill_group(proc)  # even if kubectl itself is gone: what it left holds pipes
            finally:
                if proc.returncode is None:  # timed out, or this request was cancelled
                    _kill_group(proc)
                await proc.wait()
                # The pipes close once the group is dead: what was said is all read.
                await asyncio.gather(work, return_exceptions=True)
    finally:
        await asyncio.to_thread(shutil.rmtree, home, True)
    if timed_out:
        status, returncode = TIMEOUT, None
    else:
        status = DONE if returncode == 0 else FAILED
    return Outcome(
        status=status,
        returncode=returncode,
        stdout=bytes(out.kept),
        stderr=bytes(err.kept),
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        truncated=out.truncated or err.truncated,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _left(started: float, inv: Invocation) -> float:
    return inv.timeout - (time.monotonic() - started)
