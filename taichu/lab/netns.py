"""Network namespaces with one veth pair each, on a /30 of their own.

Addresses come from TAICHU_LAB_SUBNET (default 10.213.0.0/16, unlikely to clash with real
networks), carved into /30s: the root-namespace end of the veth takes the first address,
the namespace the second. Traffic only flows between the root namespace and namespaces
the lab created; nothing is forwarded or NATed, and no global setting changes.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass

from taichu.lab.janitor import delete_netns
from taichu.lab.procs import LabError
from taichu.lab.state import NAME_PREFIX, owner_marker, state_root


def _network() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(os.environ.get("TAICHU_LAB_SUBNET", "10.213.0.0/16"))


def ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")


def claim_subnet() -> int:
    """Claim the first free /30 (an O_EXCL file, so concurrent owners never share one)."""
    claims = state_root() / "subnets"
    claims.mkdir(parents=True, exist_ok=True)
    for index in range(_network().num_addresses // 4):
        try:
            fd = os.open(claims / str(index), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(owner_marker())
        return index
    raise LabError(f"no free /30 left in {_network()}: run taichu.lab.janitor.sweep()")


def release_subnet(index: int) -> None:
    (state_root() / "subnets" / str(index)).unlink(missing_ok=True)


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
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def delete(self) -> None:
        delete_netns(self.name)
        subprocess.run(["ip", "link", "del", self.name], capture_output=True)
        release_subnet(self.subnet)
