"""Where the lab keeps its state, and who owns what.

Every lab object belongs to an *owner*: the Python process that started it (a pytest
worker, a script, the `taichu lab up` daemon). The owner is identified by its pid plus its
start time, so a recycled pid is never mistaken for a live owner. The janitor removes
whatever belongs to owners that are gone.

Layout under the state root ($TMPDIR/taichu-lab, or env TAICHU_LAB_STATE):
  owners/<pid>.json    owner record: pid, start time, command line
  run/<pid>/           work dirs of that owner's clusters and hosts
  subnets/<index>      claim of one SSH-host subnet, holding the owner pid
  lans/<index>         claim of one LAN's /24 (taichu.lab.lan), holding the owner marker
  cgroups/<name>.json  a real-node host's cgroup paths and owner marker (taichu.lab.cgroups)
  envs/<name>/         state of a `taichu lab up` environment
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path

OWNER_ENV = "TAICHU_LAB_OWNER"
"""Set in the environment of every process the lab starts: `<owner pid>:<start time>`."""

NAME_PREFIX = "tcl"
"""Prefix of network namespace and veth names: `tcl-<owner pid>-<n>`."""


def state_root() -> Path:
    # Shared by every owner on the machine so the janitor finds everyone's leftovers.
    return Path(os.environ.get("TAICHU_LAB_STATE") or Path(tempfile.gettempdir()) / "taichu-lab")


def proc_start_time(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def owner_alive(pid: int, start_time: int | None) -> bool:
    """Whether owner `pid` still runs. Without a recorded start time a live pid counts."""
    current = proc_start_time(pid)
    if current is None:
        return False
    return start_time is None or current == start_time


def recorded_start_time(pid: int) -> int | None:
    try:
        return int(json.loads((state_root() / "owners" / f"{pid}.json").read_text())["start"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def owner_of_marker(marker: str) -> tuple[int, int | None] | None:
    """Parse an OWNER_ENV value."""
    pid_s, _, start_s = marker.partition(":")
    if not pid_s.isdigit():
        return None
    return int(pid_s), int(start_s) if start_s.isdigit() else None


@cache
def _registered(pid: int) -> str:
    start = proc_start_time(pid)
    owners = state_root() / "owners"
    owners.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "start": start, "argv": sys.argv[:8]}
    tmp = owners / f".{pid}.json.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(owners / f"{pid}.json")
    return f"{pid}:{start}"


def owner_marker() -> str:
    """This process's owner marker; registers it as an owner on first use.

    Cached per pid so a forked child (e.g. the `lab up` daemon) registers itself anew.
    """
    return _registered(os.getpid())


def run_dir() -> Path:
    """Work dir root of this owner; created on first use."""
    owner_marker()
    path = state_root() / "run" / str(os.getpid())
    path.mkdir(parents=True, exist_ok=True)
    return path


def forget_owner() -> None:
    """At exit, after everything was stopped: remove this owner's work dirs and record."""
    pid = os.getpid()
    if recorded_start_time(pid) != proc_start_time(pid):
        return  # never registered (or the record belongs to an earlier process)
    shutil.rmtree(state_root() / "run" / str(pid), ignore_errors=True)
    (state_root() / "owners" / f"{pid}.json").unlink(missing_ok=True)


def keep_logs(logs: Path, label: str) -> None:
    """With TAICHU_LAB_KEEP_LOGS=1, copy a work dir's logs to <state root>/logs/ before the
    work dir goes (for debugging a run after the fact; the janitor leaves them alone)."""
    if os.environ.get("TAICHU_LAB_KEEP_LOGS") and logs.is_dir():
        shutil.copytree(logs, state_root() / "logs" / f"{os.getpid()}-{label}", dirs_exist_ok=True)
