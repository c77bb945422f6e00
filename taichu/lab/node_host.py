"""What a lab host needs to be a real Kubernetes node (`SshHost(real_node=True)`).

- cgroups: a cgroup of the host's own in every hierarchy (taichu.lab.cgroups), entered by
  the host's first process before it unshares a cgroup namespace: inside, /proc/self/cgroup
  says `/` and the hierarchies are mounted again (`ip netns exec` mounts a fresh /sys
  without them), so kubelet's default cgroupRoot and runc work with no lab knowledge, and
  every container of the host lands under the host's cgroup (that is how destroy finds the
  processes that left the host's network namespace).
- plain directories bind-mounted over /var/lib/{containerd,kubelet,etcd} and /var/log
  (containerd's overlayfs snapshots cannot sit on the host's overlay /var/lib).
- sysctl masks: files with the values kubelet's protectKernelDefaults demands,
  bind-mounted over those global (not per-namespace) /proc/sys entries inside the host,
  only where the real value differs; the real machine's values never change.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from taichu.lab import cgroups

# kubelet v1.36 pkg/kubelet/cm/container_manager_linux.go setupKernelTunables: with
# protectKernelDefaults it refuses to start unless each reads back this value.
KERNEL_DEFAULTS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}

PLAIN_DIRS = {
    "containerd": "/var/lib/containerd",
    "kubelet": "/var/lib/kubelet",
    "etcd": "/var/lib/etcd",
    "log": "/var/log",
}


def sysctl_masks() -> dict[str, str]:
    """The /proc/sys entries (relative) a host must show with another value than the real."""
    masks = {}
    for key, want in KERNEL_DEFAULTS.items():
        try:
            real = (Path("/proc/sys") / key).read_text().strip()
        except OSError:
            continue  # not in this kernel: kubelet would fail on a real machine too
        if real != want:
            masks[key] = want
    return masks


class NodeParts:
    """The real-node parts of one host: `prepare()` before its first process starts,
    `init_lines()` in its init script, `enter()` around every command run in it."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name  # the host's network namespace name, also its cgroups'
        self.root = root
        self.paths: list[Path] = []

    def prepare(self) -> None:
        if not self.paths:
            self.paths = cgroups.create(self.name)
        for d in PLAIN_DIRS:
            (self.root / "plain" / d).mkdir(parents=True, exist_ok=True)
        masks = self.root / "sysctl"
        masks.mkdir(exist_ok=True)
        for key, value in sysctl_masks().items():
            (masks / key.replace("/", ".")).write_text(value + "\n")

    def enter(self, argv: list[str]) -> list[str]:
        """`argv` run from inside the host's cgroups (moved there before it execs)."""
        moves = "; ".join(f"echo $$ > {shlex.quote(str(p / 'cgroup.procs'))}" for p in self.paths)
        return ["sh", "-c", f'{moves}; exec "$@"', "sh", *argv]

    def init_lines(self) -> list[str]:
        """Mounts made inside the host (mount namespace), before /tmp is made private."""
        r = self.root
        lines = _cgroup_mounts()
        for d, target in PLAIN_DIRS.items():
            lines += [f"mkdir -p {target}", f"mount --bind {r}/plain/{d} {target}"]
        for f in sorted((r / "sysctl").glob("*")):
            lines.append(f"mount --bind {f} /proc/sys/{f.name.replace('.', '/')}")
        return lines

    def kill(self) -> None:
        """Kill every process in the host's cgroups (containers in their own netns too)."""
        if self.paths:
            cgroups.kill_members(self.paths)

    def destroy(self) -> None:
        paths = self.paths or cgroups.recorded_paths(self.name)
        cgroups.destroy(self.name, paths)
        self.paths = []


def _cgroup_mounts() -> list[str]:
    """Every hierarchy mounted again where the real machine has it: inside the cgroup
    namespace each shows the host's cgroup as its root."""
    found = cgroups.hierarchies()
    if any(h.cgroup2 and h.mountpoint == cgroups.CGROUP_ROOT for h in found):
        return [f"mount -t cgroup2 cgroup2 {cgroups.CGROUP_ROOT}"]
    lines = [f"mount -t tmpfs -o mode=755 cgroup {cgroups.CGROUP_ROOT}"]
    for h in found:
        mp = shlex.quote(str(h.mountpoint))
        lines.append(f"mkdir -p {mp}")
        if h.cgroup2:
            lines.append(f"mount -t cgroup2 cgroup2 {mp}")
        else:
            lines.append(f"mount -t cgroup -o {h.options} cgroup {mp}")
    return lines
