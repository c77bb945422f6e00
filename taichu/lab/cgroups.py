"""Cgroups of real-node hosts: one per host in every hierarchy, found again and removed.

A host's cgroup is a child of the cgroup its creator runs in, in every hierarchy (so any
limit the creator lives under still applies), named like its network namespace. Its paths
are recorded in <state root>/cgroups/<name>.json with the owner marker, so the janitor
kills what runs in them and removes them when the owner died without cleaning up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from taichu.lab.procs import LabError, alive
from taichu.lab.state import owner_alive, owner_marker, owner_of_marker, state_root

CGROUP_ROOT = Path("/sys/fs/cgroup")
_MAX_PROCS_BYTES = 4 << 20  # a cgroup.procs listing; far above what a host runs


@dataclass(frozen=True)
class Hierarchy:
    """One mounted hierarchy: `options` for `mount -o` (v1; empty for cgroup2)."""

    mountpoint: Path
    cgroup2: bool
    options: str
    own: str  # this process's cgroup in it, e.g. "/" or "/process_api/abc"

    @property
    def own_dir(self) -> Path:
        return self.mountpoint / self.own.lstrip("/")


def _mountinfo() -> list[tuple[str, Path, str, list[str]]]:
    """(mount root, mountpoint, fstype, super options) of every cgroup mount."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((fields[3], Path(fields[4]), tail[0], tail[2].split(",")))
    return found


def hierarchies() -> list[Hierarchy]:
    """The hierarchies this process sees, each with the cgroup it runs in."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        own[controllers] = path
    result = []
    for root, mountpoint, fstype, opts in _mountinfo():
        if fstype == "cgroup2":
            key, options = "", ""
        else:
            key = next((k for k in own if k and set(k.split(",")) <= set(opts)), None)
            if key is None:
                continue
            options = ",".join(("none", key) if key.startswith("name=") else (key,))
        path = own.get(key)
        if path is None or not path.startswith(root):
            continue  # a mount of part of the tree this process is not in
        inner = "/" + path[len(root) :].lstrip("/")
        result.append(Hierarchy(mountpoint, fstype == "cgroup2", options, inner))
    return result


def _record(name: str) -> Path:
    return state_root() / "cgroups" / f"{name}.json"


def create(name: str) -> list[Path]:
    """A cgroup `name` under this process's own in every hierarchy; recorded first, so a
    crash half-way still leaves a record for the janitor."""
    paths = [h.own_dir / name for h in hierarchies()]
    if not paths:
        raise LabError("no cgroup hierarchy is mounted")
    record = _record(name)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"owner": owner_marker(), "paths": [str(p) for p in paths]}))
    for path in paths:
        path.mkdir(exist_ok=True)
        parent_cpus = path.parent / "cpuset.cpus"
        # A new v1 cpuset starts with no CPUs and memory nodes: nothing could run in it.
        if parent_cpus.exists() and (path / "cpuset.cpus").exists():
            for f in ("cpuset.cpus", "cpuset.mems"):
                (path / f).write_text((path.parent / f).read_text())
    return paths


def members(paths: list[Path]) -> set[int]:
    """Every process in the cgroups or their descendants."""
    pids: set[int] = set()
    for path in paths:
        for dirpath, _, files in os.walk(path):
            if "cgroup.procs" not in files:
                continue
            with contextlib.suppress(OSError), open(Path(dirpath) / "cgroup.procs", "rb") as f:
                pids.update(int(p) for p in f.read(_MAX_PROCS_BYTES).split())
    return pids


def _thaw(paths: list[Path]) -> None:
    # A frozen process never dies of SIGKILL: thaw first (v1 freezer, cgroup2 cgroup.freeze).
    for path in paths:
        for dirpath, _, files in os.walk(path):
            for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                if name in files:
                    with contextlib.suppress(OSError):
                        (Path(dirpath) / name).write_text(value)


def kill_members(paths: list[Path], timeout: float = 10.0) -> None:
    """SIGKILL everything in the cgroups (a power cut: a container's init, pid 1 of its
    namespace, ignores SIGTERM), again while something forked in between."""
    deadline = time.monotonic() + timeout
    while pids := {p for p in members(paths) if alive(p)}:
        if time.monotonic() > deadline:
            raise LabError(f"processes {sorted(pids)} left in {paths[0]} after {timeout:.0f}s")
        _thaw(paths)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def remove(name: str, paths: list[Path], timeout: float = 10.0) -> None:
    """rmdir the cgroups, leaves first; a cgroup still emptying is retried until timeout."""
    deadline = time.monotonic() + timeout
    for path in paths:
        if not path.exists():
            continue
        dirs = [Path(d) for d, _, _ in os.walk(path, topdown=False)]
        for d in dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise LabError(f"cgroup {d} cannot be removed") from None
                    time.sleep(0.05)
    _record(name).unlink(missing_ok=True)


def destroy(name: str, paths: list[Path]) -> None:
    kill_members(paths)
    remove(name, paths)


def sweep_cgroups() -> int:
    """Kill and remove the cgroups of owners that are gone; returns how many hosts'."""
    removed = 0
    for record in sorted((state_root() / "cgroups").glob("*.json")):
        try:
            data = json.loads(record.read_text())
            owner = owner_of_marker(str(data["owner"]))
            paths = [Path(p) for p in data["paths"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owner is None or owner[0] == os.getpid() or owner_alive(*owner):
            continue
        with contextlib.suppress(LabError):
            destroy(record.stem, paths)
            removed += 1
    return removed


def recorded_paths(name: str) -> list[Path]:
    """The recorded cgroup paths of host `name` (empty once removed)."""
    try:
        return [Path(p) for p in json.loads(_record(name).read_text())["paths"]]
    except (OSError, ValueError, KeyError):
        return []
