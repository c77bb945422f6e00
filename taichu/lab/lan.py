"""A LAN between lab hosts: one L2 segment, like a rack switch.

A bridge `br0` in a network namespace of its own (`tcl-<owner pid>-<n>`, so the janitor
sweeps it like a host's namespace); the root namespace is plugged in by a veth of the same
name holding the LAN's first address, so the platform (in the root namespace) reaches every
host's LAN address directly: a connected subnet, nothing forwarded, no global sysctl
changed. Each host gets `eth1` on the bridge with an address of its own, and its default
route (the root namespace forwards nothing, so it leads to the platform only).

Subnets are /24s of TAICHU_LAB_LAN_SUBNET (default 10.214.0.0/16), claimed with an O_EXCL
file under <state root>/lans/ so concurrent runs and workers never share one.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from typing import Self

from taichu.lab import janitor
from taichu.lab.netns import claim_index, ip, next_seq, release_index
from taichu.lab.procs import LabError
from taichu.lab.state import NAME_PREFIX

LAN_POOL = "lans"


def _network() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(os.environ.get("TAICHU_LAB_LAN_SUBNET", "10.214.0.0/16"))


class Lan:
    """`start()` creates the segment, `destroy()` removes it (and every host's eth1)."""

    def __init__(self) -> None:
        self.seq = next_seq()
        self.name = f"{NAME_PREFIX}-{os.getpid()}-{self.seq}"
        if len(self.name) > 15:
            raise LabError(f"interface name {self.name} is longer than 15 characters")
        self.index: int | None = None
        self._handle: int | None = None
        self._lock = threading.Lock()
        self._used: set[int] = set()
        self._handed: set[int] = set()  # every host address given out on this LAN

    def start(self) -> Self:
        if self.index is not None:
            return self
        network = _network()
        if network.prefixlen > 24:
            raise LabError(f"TAICHU_LAB_LAN_SUBNET {network} is smaller than a /24")
        self._handle = janitor.track(self.destroy)
        try:
            self.index = claim_index(LAN_POOL, 2 ** (24 - network.prefixlen), f"/24 in {network}")
            ip("netns", "add", self.name)
            ip("-n", self.name, "link", "set", "lo", "up")
            ip("-n", self.name, "link", "add", "br0", "type", "bridge")
            ip("-n", self.name, "link", "set", "br0", "up")
            # The root namespace's port: created here, its peer moved into the LAN at once
            # (no temporary name in the root namespace a concurrent run could collide with).
            ip("link", "add", self.name, "type", "veth", "peer", "name", "root", "netns", self.name)
            ip("-n", self.name, "link", "set", "root", "master", "br0", "up")
            ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.name)
            ip("link", "set", self.name, "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def destroy(self) -> None:
        """Remove the bridge namespace (every host's eth1 goes with its veth peer), the
        root namespace's link and the subnet claim."""
        janitor.delete_netns(self.name)
        janitor.delete_link(self.name)
        if self.index is not None:
            release_index(LAN_POOL, self.index)
            self.index = None
        if self._handle is not None:
            janitor.untrack(self._handle)
            self._handle = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        if self.index is None:
            raise LabError(f"LAN {self.name} was not started")
        base = _network().network_address + self.index * 256
        return ipaddress.IPv4Network(f"{base}/24")

    @property
    def gateway(self) -> str:
        """The root namespace's address on the LAN (the platform's, as hosts see it)."""
        return str(self.subnet.network_address + 1)

    def attach(self, netns: str, seq: int) -> str:
        """Plug namespace `netns` in as `eth1`; returns its address on the LAN."""
        with self._lock:
            free = [n for n in range(2, 255) if n not in self._used]
            if not free:
                raise LabError(f"LAN {self.name} ({self.subnet}) is full")
            # An address never handed out first: the platform's neighbour entry for a
            # destroyed host would send a new one's packets to the old MAC (seen as SSH
            # timeouts under load). Reused only when every one was handed out once.
            fresh = [n for n in free if n not in self._handed]
            pick = (fresh or free)[0]
            reused = not fresh
            self._used.add(pick)
            self._handed.add(pick)
        address = str(self.subnet.network_address + pick)
        if reused:
            janitor.run_ip("neigh", "flush", "to", address)
        port = f"h{seq}"
        try:
            ip("-n", self.name, "link", "add", port, "type", "veth", "peer", "name", "eth1",
               "netns", netns)  # fmt: skip
            ip("-n", self.name, "link", "set", port, "master", "br0", "up")
            ip("-n", netns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth1")
            ip("-n", netns, "link", "set", "eth1", "up")
            self.route(netns)
        except BaseException:
            self.detach(seq, address)
            raise
        return address

    def route(self, netns: str) -> None:
        """The default route on the LAN, as on a machine whose network this is: what
        kubelet, etcd, the API server and flannel detect as the node's address is its LAN
        address. (eth0's /30 to the root namespace stays a connected route.)"""
        ip("-n", netns, "route", "replace", "default", "via", self.gateway, "dev", "eth1")

    def detach(self, seq: int, address: str) -> None:
        """Unplug the host's port (its eth1 goes too) and free its address."""
        if self.index is not None:
            janitor.run_ip("-n", self.name, "link", "del", f"h{seq}")
        with self._lock:
            self._used.discard(int(address.rsplit(".", 1)[1]))
