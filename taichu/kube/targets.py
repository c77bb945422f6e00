"""Where a cluster may be: the addresses the platform refuses to connect to on a caller's
behalf, checked when a cluster is registered and again at every connect.

A registered server is the caller's choice, and the platform connects to it with its own
network position: without limits, any user could make it reach the cloud metadata service
(instance credentials) or services that listen only on the platform's own host.
- Link-local and cloud metadata addresses are refused for everyone, at registration and
  at connect time (`guarded_socket`, so a host name that later resolves there is refused
  too).
- Loopback is refused for non-admins at registration, unless the operator allows it
  (`TAICHU_KUBE__ALLOWED_NETWORKS`), and at every connect to a cluster whose address a
  non-admin chose (`ClusterAccess.connect_policy`): a name that resolved elsewhere when it
  was registered and to loopback later is refused then (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from taichu.errors import Invalid
from taichu.kube.access import shown

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# (networks, what they are): refused for every caller, admins included.
_ALWAYS_REFUSED: list[tuple[list[Network], str]] = [
    (
        [
            ipaddress.ip_network(n)
            for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
        ],
        "a link-local or cloud metadata address",
    ),
    (
        [
            ipaddress.ip_network(n)
            for n in ("0.0.0.0/8", "::/128", "224.0.0.0/4", "ff00::/8", "255.255.255.255/32")
        ],
        "not a host address",
    ),
]
_LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_HINT = (
    "only an admin may register a cluster on the platform's own host "
    "(an operator may allow it for users with TAICHU_KUBE__ALLOWED_NETWORKS)"
)


def _effective(address: Address) -> Address:
    """The IPv4 address an IPv6 form reaches (IPv4-mapped, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(address.packed[-4:])
    return address


def _within(address: Address, networks: Iterable[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def always_refused(address: Address) -> str | None:
    """What the address is, if no cluster may be there whoever registers it."""
    address = _effective(address)
    for networks, what in _ALWAYS_REFUSED:
        if _within(address, networks):
            return what
    return None


@dataclass(frozen=True)
class TargetPolicy:
    """What one caller may register: admins may use loopback, users only within
    `allowed` (the operator's `allowed_networks`)."""

    allow_loopback: bool
    allowed: tuple[Network, ...] = ()

    @classmethod
    def for_caller(cls, is_admin: bool, allowed_networks: Iterable[str]) -> TargetPolicy:
        allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        return cls(allow_loopback=is_admin, allowed=allowed)

    def refusal(self, address: Address) -> str | None:
        """Why `address` is refused to this caller (None: allowed)."""
        what = always_refused(address)
        if what is not None:
            return f"{what}, where clusters may not be registered"
        address = _effective(address)
        if self.allow_loopback or _within(address, self.allowed):
            return None
        if _within(address, _LOOPBACK):
            return f"a loopback address: {_LOOPBACK_HINT}"
        return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def check_server(
    server: str, policy: TargetPolicy, where: str, resolve_seconds: float
) -> None:
    """Refuse (422) a server URL whose host is, or resolves to, an address the caller may
    not use. Every resolved address counts: a connection may use any of them."""
    parts = urlsplit(server)
    host, port = parts.hostname or "", parts.port or 443
    literal = _literal(host)
    if literal is not None:
        why = policy.refusal(literal)
        if why is not None:
            raise Invalid(f"{where}: {literal} is {why}")
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), resolve_seconds
        )
    except (OSError, TimeoutError, UnicodeError) as e:
        raise Invalid(f"{where}: the host {shown(host)} cannot be resolved") from e
    for *_, sockaddr in infos:
        address = _literal(str(sockaddr[0]))
        why = policy.refusal(address) if address is not None else "not an IP address"
        if why is not None:
            raise Invalid(f"{where}: the host {shown(host)} resolves to {why}")


def connect_refusal(address: Address, policy: TargetPolicy | None) -> str | None:
    """Why a connection to `address` is refused: `policy` when the address was a
    non-admin's choice, else only what nobody may reach."""
    if policy is not None:
        return policy.refusal(address)
    what = always_refused(address)
    return None if what is None else f"{what}, which clusters may not use"


def guarded_socket(addr_info: tuple[Any, ...], policy: TargetPolicy | None = None) -> socket.socket:
    """aiohttp's `socket_factory` (with the access's `connect_policy` bound): it sees the very
    address each connection goes to (after DNS, literal IPs included), so a name rebound to
    a refused address fails here."""
    family, type_, proto, _, sockaddr = addr_info
    address = _literal(str(sockaddr[0]))
    why = connect_refusal(address, policy) if address is not None else "not an IP address"
    if why is not None:
        raise OSError(errno.EACCES, f"{address} is {why}")
    return socket.socket(family=family, type=type_, proto=proto)


async def open_checked(
    host: str, port: int, policy: TargetPolicy | None, seconds: float, max_addresses: int = 4
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to `host`, resolved here and held to `policy` (see
    `connect_refusal`), for a client that does not take `guarded_socket`: the first of at
    most `max_addresses` resolved addresses that is allowed and answers. OSError (EACCES
    when every address was refused) otherwise; each step is bounded by `seconds`."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), seconds
        )
    except (TimeoutError, UnicodeError) as e:
        raise OSError(errno.EHOSTUNREACH, f"{shown(host)} cannot be resolved") from e
    failure: OSError | None = None
    for *_, sockaddr in infos[:max_addresses]:
        address = _literal(str(sockaddr[0]))
        if address is None:
            continue
        why = connect_refusal(address, policy)
        if why is not None:
            failure = OSError(errno.EACCES, f"{address} is {why}")
            continue
        try:
            return await asyncio.wait_for(asyncio.open_connection(str(address), port), seconds)
        except (OSError, TimeoutError) as e:
            failure = failure or OSError(errno.ECONNREFUSED, f"{address}: {e or 'timed out'}")
    raise failure or OSError(errno.EHOSTUNREACH, f"{shown(host)} has no usable address")
