"""Network namespaces with one veth pair each, on a /30 of their own.

Addresses come from TAICHU_LAB_SUBNET (default 10.213.0.0/16, unlikely to clash with real
networks), carved into /30s: the root-namespace end of the veth takes the first address,
the namespace the second. Traffic only flows between the root namespace and namespaces
the lab created; nothing is forwarded or NATed, and no global setting changes.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import subprocess
from dataclasses import dataclass

from taichu.lab.janitor import delete_netns
from taichu.lab.procs import LabError
from taichu.lab.state import NAME_PREFIX, owner_marker, state_root


def _network() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(os.environ.get("TAICHU_LAB_SUBNET", "10.213.0.0/16"))


_seq = itertools.count(1)


def next_seq() -> int:
    """The next number of this owner's lab objects named `tcl-<owner pid>-<n>` (hosts,
    LANs): one counter, so their names never collide."""
    return next(_seq)


def netns_pids(name: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")


def claim_index(pool: str, count: int, what: str) -> int:
    """Claim the first free index of `count` in pool `pool` (a directory of the state root
    holding one O_EXCL file per claim, so concurrent owners never share one)."""
    claims = state_root() / pool
    claims.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        try:
            fd = os.open(claims / str(index), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(owner_marker())
        return index
    raise LabError(f"no free {what} left: run taichu.lab.janitor.sweep()")


def release_index(pool: str, index: int) -> None:
    (state_root() / pool / str(index)).unlink(missing_ok=True)


def claim_subnet() -> int:
    """Claim the first free /30 of TAICHU_LAB_SUBNET."""
    return claim_index("subnets", _network().num_addresses // 4, f"/30 in {_network()}")


def release_subnet(index: int) -> None:
    release_index("subnets", index)


@dataclass
class NetNs:
    """Namespace `name` (also the name of the root-side veth: at most 15 characters)."""

    name: str
    subnet: int

    @classmethod
    def create(cls, seq: int) -> NetNs:
        name = f"{NAME_PREFIX}-{os.getpid()}-{seq}"
        if len(name) > 15:
            raise LabError(f"interface name {name} is longer than 15 characters")
        ns = cls(name, claim_subnet())
        try:
            ip("netns", "add", name)
            # The peer is created directly inside the namespace: no temporary name in the
            # root namespace that a concurrent run could collide with.
            ip("link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", name)
            ip("addr", "add", f"{ns.gateway}/30", "dev", name)
            ip("link", "set", name, "up")
            ip("-n", name, "link", "set", "lo", "up")
            ip("-n", name, "addr", "add", f"{ns.address}/30", "dev", "eth0")
            ip("-n", name, "link", "set", "eth0", "up")
            ip("-n", name, "route", "add", "default", "via", ns.gateway)
        except BaseException:
            ns.delete()
            raise
        return ns

    def _addr(self, offset: int) -> str:
        return str(_network().network_address + self.subnet * 4 + offset)

    @property
    def gateway(self) -> str:
        """Root-namespace side."""
        return self._addr(1)

    @property
    def address(self) -> str:
        """Namespace side: where the host is reached."""
        return self._addr(2)

    def pids(self) -> list[int]:
        return netns_pids(self.name)

    def delete(self) -> None:
        delete_netns(self.name)
        subprocess.run(["ip", "link", "del", self.name], capture_output=True)
        release_subnet(self.subnet)
