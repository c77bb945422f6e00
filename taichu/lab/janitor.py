"""Cleanup on every exit path.

In-process: every started cluster and host registers a cleanup; they run at exit (atexit),
on SIGTERM/SIGHUP (handlers installed by the fixtures and the daemon), and on Ctrl-C via
the KeyboardInterrupt pytest turns into fixture teardown.

Across processes: `sweep()` removes what owners that died without cleaning up (SIGKILL,
OOM, power loss) left behind: processes carrying their owner marker, network namespaces
and veths named `tcl-<owner pid>-<n>` (hosts' and LANs'), subnet and LAN claims, real-node
hosts' cgroups (with what still runs in them: containers) and work dirs.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from taichu.lab.cgroups import sweep_cgroups
from taichu.lab.procs import kill_pids
from taichu.lab.state import (
    NAME_PREFIX,
    OWNER_ENV,
    forget_owner,
    owner_alive,
    owner_of_marker,
    proc_start_time,
    recorded_start_time,
    state_root,
)

_cleanups: dict[int, Callable[[], None]] = {}
_lock = threading.Lock()
_next_id = 0


def track(cleanup: Callable[[], None]) -> int:
    """Register a cleanup to run at exit; returns a handle for `untrack`."""
    global _next_id
    with _lock:
        _next_id += 1
        _cleanups[_next_id] = cleanup
        return _next_id


def untrack(handle: int) -> None:
    with _lock:
        _cleanups.pop(handle, None)


def cleanup_all() -> None:
    """Run every registered cleanup, newest first; one failing never stops the others."""
    with _lock:
        items = sorted(_cleanups.items(), reverse=True)
        _cleanups.clear()
    for _, fn in items:
        try:
            fn()
        except Exception as e:
            print(f"taichu.lab: cleanup failed: {e!r}", flush=True)


def _at_exit() -> None:
    cleanup_all()
    forget_owner()


atexit.register(_at_exit)


def install_signal_handlers() -> None:
    """On SIGTERM/SIGHUP clean up, then die of the signal as before.

    Without this the default action kills Python outright and atexit never runs. Only
    possible from the main thread; a handler someone else installed is chained.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(signum)
        if getattr(previous, "_taichu_lab", False):
            continue

        def handler(sig: int, frame: FrameType | None, previous: Any = previous) -> None:
            _at_exit()
            if callable(previous):
                previous(sig, frame)
                return
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

        handler._taichu_lab = True  # type: ignore[attr-defined]
        signal.signal(signum, handler)


# --- sweeping leftovers of dead owners ---------------------------------------------------

_NAME_RE = re.compile(rf"^{NAME_PREFIX}-(\d+)-\d+$")


def _dead(pid: int) -> bool:
    if pid == os.getpid():
        return False
    return not owner_alive(pid, recorded_start_time(pid))


def _orphan_processes() -> list[int]:
    me = (os.getpid(), proc_start_time(os.getpid()))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for var in environ.split(b"\0"):
            if var.startswith(OWNER_ENV.encode() + b"="):
                owner = owner_of_marker(var.split(b"=", 1)[1].decode(errors="replace"))
                if owner and owner != me and not owner_alive(*owner):
                    found.append(int(entry.name))
                break
    return found


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True).stdout


def _orphan_netns() -> list[str]:
    names = (line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip())
    return [n for n in names if (m := _NAME_RE.match(n)) and _dead(int(m.group(1)))]


def _orphan_links() -> list[str]:
    found = []
    for line in _ip("-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if (m := _NAME_RE.match(name)) and _dead(int(m.group(1))):
            found.append(name)
    return found


def run_ip(*args: str) -> None:
    """`ip` where failing is fine (the object may be gone already)."""
    subprocess.run(["ip", *args], capture_output=True)


def delete_link(name: str) -> None:
    run_ip("link", "del", name)


def delete_netns(name: str) -> None:
    """Kill everything inside a namespace, then delete it (its veth end goes with it)."""
    pids = [int(p) for p in _ip("netns", "pids", name).split()]
    kill_pids(pids)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def sweep() -> dict[str, int]:
    """Remove leftovers of lab owners that are gone; returns what was removed, by kind."""
    root = state_root()
    report = {"processes": 0, "netns": 0, "links": 0, "subnets": 0, "dirs": 0, "cgroups": 0}
    procs = _orphan_processes()
    kill_pids(procs)
    report["processes"] = len(procs)
    # Containers of real-node hosts carry no owner marker: found through the cgroups.
    report["cgroups"] = sweep_cgroups()
    for ns in _orphan_netns():
        delete_netns(ns)
        report["netns"] += 1
    for link in _orphan_links():
        subprocess.run(["ip", "link", "del", link], capture_output=True)
        report["links"] += 1
    claims = [*(root / "subnets").glob("*"), *(root / "lans").glob("*")]
    for claim in sorted(claims):
        owner = owner_of_marker(claim.read_text().strip()) if claim.is_file() else None
        if owner and owner[0] != os.getpid() and not owner_alive(*owner):
            claim.unlink(missing_ok=True)
            report["subnets"] += 1
    for run in sorted((root / "run").glob("*")):
        if run.name.isdigit() and _dead(int(run.name)):
            shutil.rmtree(run, ignore_errors=True)
            report["dirs"] += 1
    for env in sorted((root / "envs").glob("*/daemon.json")):
        try:
            pid = int(json.loads(env.read_text())["pid"])
        except (ValueError, KeyError):
            continue
        if _dead(pid):
            shutil.rmtree(env.parent, ignore_errors=True)
    for record in sorted((root / "owners").glob("*.json")):
        if record.stem.isdigit() and _dead(int(record.stem)):
            record.unlink(missing_ok=True)
    return report
