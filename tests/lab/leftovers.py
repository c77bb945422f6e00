"""What the lab could leave behind for one owner, looked up from the outside."""

from __future__ import annotations

import subprocess
from pathlib import Path

from taichu.lab.state import OWNER_ENV, state_root

NOTHING: dict[str, list[str]] = {
    "processes": [],
    "netns": [],
    "links": [],
    "dirs": [],
    "subnets": [],
    "lans": [],
    "cgroups": [],
}


def leftovers(owner: int) -> dict[str, list[str]]:
    """Everything the lab might leave behind for owner pid `owner`."""
    marker = f"{OWNER_ENV}={owner}:".encode()
    procs = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                procs.append(entry.name)
        except OSError:
            continue
    prefix = f"tcl-{owner}-"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    claims = [
        p.name
        for p in (state_root() / "subnets").glob("*")
        if p.read_text().startswith(f"{owner}:")
    ]
    lans = [
        p.name for p in (state_root() / "lans").glob("*") if p.read_text().startswith(f"{owner}:")
    ]
    # Real-node hosts' cgroups: named like their namespace, under any cgroup of the creator.
    cgroups = [
        str(d)
        for d in Path("/sys/fs/cgroup").glob(f"**/{prefix}*")
        if d.is_dir() and not d.is_symlink()
    ]
    cgroups += [r.name for r in (state_root() / "cgroups").glob(f"{prefix}*.json")]
    return {
        "processes": procs,
        "netns": [ln.split()[0] for ln in netns.splitlines() if ln.startswith(prefix)],
        "links": [ln.split(":")[1].strip() for ln in links.splitlines() if prefix in ln],
        "dirs": [str(p) for p in [state_root() / "run" / str(owner)] if p.exists()],
        "subnets": claims,
        "lans": lans,
        "cgroups": cgroups,
    }
