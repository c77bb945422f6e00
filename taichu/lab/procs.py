"""Processes the lab starts: own session, log file, owner marker, kill by group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from taichu.lab.state import OWNER_ENV, owner_marker


class LabError(RuntimeError):
    """A lab part failed to start or to do what was asked; the message carries the log tail."""


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            data = f.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


_SETPRIV = shutil.which("setpriv")


class LabProcess:
    """One long-running process in its own session (so Ctrl-C in a terminal never reaches it
    and it can be killed with everything it forked), logging to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env or {}
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.running:
            return
        argv = list(self.argv)
        # If the owner dies without cleaning up (SIGKILL), the kernel kills the child too.
        # The death signal fires when the *thread* that forked exits, so only the main
        # thread (which lives as long as the owner) may use it; the janitor covers the rest.
        if _SETPRIV and threading.current_thread() is threading.main_thread():
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
        env = {**os.environ, **self.env, OWNER_ENV: owner_marker()}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=self.cwd,
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def failure(self, what: str) -> LabError:
        text = tail(self.log_path, 400)
        # A flag error is printed before the whole usage text, which would fill the tail.
        errors = [ln for ln in text.splitlines() if ln.startswith(("Error:", "F1", "E1"))][-5:]
        found = "".join(f"\n{ln}" for ln in errors)
        return LabError(
            f"{self.name}: {what}{found}\n--- last lines of {self.log_path} ---\n"
            + "\n".join(text.splitlines()[-40:])
        )

    def check(self) -> None:
        """Raise with the log tail if the process has exited."""
        if self.popen is not None and self.popen.poll() is not None:
            raise self.failure(f"exited with code {self.popen.returncode}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        kill_group(self.popen.pid, timeout, self.popen)
        self.popen = None


def stop_all(processes: Iterable[LabProcess], timeout: float = 10.0) -> None:
    """Stop several processes under one deadline: SIGTERM them all, wait, SIGKILL what is
    left. One by one, a control plane's five processes could take five timeouts on a
    loaded machine, longer than an interrupted test run may take to clean up."""
    running = [p for p in processes if p.popen is not None]
    for process in running:
        assert process.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        assert process.popen is not None
        kill_group(process.popen.pid, max(deadline - time.monotonic(), 0.0), process.popen)
        process.popen = None


def kill_group(
    pgid: int, timeout: float = 10.0, popen: subprocess.Popen[bytes] | None = None
) -> None:
    """SIGTERM the process group, SIGKILL it if the leader outlives `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                break
        elif not alive(pgid):
            break
        time.sleep(0.05)
    # Members that outlived the leader (or a leader ignoring SIGTERM) go now.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if popen is not None:
        popen.wait()


def kill_pids(pids: Iterable[int], timeout: float = 5.0) -> None:
    """SIGTERM then SIGKILL arbitrary pids (e.g. everything inside a network namespace)."""
    pids = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        pids = [p for p in pids if alive(p)]
        if not pids:
            return


def alive(pid: int) -> bool:
    """Exists and is not a zombie (a killed child of ours stays one until its Popen waits)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2] != "Z"


_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free right now, from the kernel (bind to port 0).

    All sockets stay bound until every port is chosen, so the kernel cannot hand out the
    same port twice; ports given out earlier in this process are never repeated. Another
    process may still grab one before the component binds it, which shows up as a start
    failure with 'address already in use' in the log.
    """
    with _ports_lock:
        socks: list[socket.socket] = []
        ports: list[int] = []
        try:
            while len(ports) < count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((host, 0))
                socks.append(s)
                port = s.getsockname()[1]
                if port not in _handed_out:
                    ports.append(port)
                    _handed_out.add(port)
        finally:
            for s in socks:
                s.close()
        return ports


def wait_until(
    what: str,
    predicate: Callable[[], bool],
    timeout: float,
    *,
    watch: Iterable[LabProcess] = (),
    interval: float = 0.1,
) -> None:
    """Poll `predicate` until true; fail early (with its log) if a watched process exits."""
    deadline = time.monotonic() + timeout
    watched = list(watch)
    while True:
        for proc in watched:
            proc.check()
        with contextlib.suppress(Exception):  # not ready yet; the timeout reports it
            if predicate():
                return
        if time.monotonic() > deadline:
            details = "".join(
                f"\n--- last lines of {p.log_path} ---\n{tail(p.log_path, 20)}" for p in watched
            )
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{details}")
        time.sleep(interval)
