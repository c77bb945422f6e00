"""Addresses and networks of blacklist entries (pure logic, no I/O).

An entry covers one network; a single address is its /32 (IPv4) or /128 (IPv6). Stored
as canonical text plus its range as fixed-width hex, so range questions (which entries
cover this address, which overlap this CIDR) are plain comparisons in SQL on every
backend."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Auto-blocks of IPv6 cover the /64: one host usually holds the whole /64, and a ban of a
# single address is escaped by taking the next one.
AUTO_BLOCK_V6_PREFIX = 64
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
_HEX_WIDTH = 32  # an IPv6 address in hex; IPv4 is padded to the same width


def parse_address(text: str | None) -> Address | None:
    """The client address as the middleware sees it (IPv4-mapped IPv6 as IPv4), or None
    for what is not an address (`unknown`, a name)."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmap(network: Network) -> Network:
    """::ffff:a.b.c.d/n (n >= 96) is the IPv4 network clients arrive from."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    return network


def parse_network(text: str) -> Network:
    """An entry's `ip`: an address or a CIDR. ValueError (a sentence) otherwise; host bits
    set in a CIDR are refused rather than silently widened."""
    text = text.strip()
    if not text:
        raise ValueError("must be an IPv4/IPv6 address or CIDR, e.g. 203.0.113.7 or 10.0.0.0/24")
    if "%" in text:
        raise ValueError("must not carry an IPv6 zone (%...)")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        try:
            wide = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                "must be an IPv4/IPv6 address or CIDR, e.g. 203.0.113.7 or 10.0.0.0/24"
            ) from e
        raise ValueError(f"has host bits set; did you mean {wide}?") from e
    return _unmap(network)


def parse_network_loose(text: str) -> Network:
    """A setting's network (host bits allowed: `10.1.2.3/8` means 10.0.0.0/8)."""
    return _unmap(ipaddress.ip_network(text.strip(), strict=False))


def auto_block_network(text: str) -> Network:
    """What an auto-block of `text` (an address or network) covers: IPv4 as given, IPv6
    widened to its /64."""
    network = parse_network(text) if "/" in text else None
    if network is None:
        address = parse_address(text.strip())
        if address is None:
            raise ValueError(f"not an IP address: {text[:64]!r}")
        network = ipaddress.ip_network(address)
    if network.version == 6 and network.prefixlen > AUTO_BLOCK_V6_PREFIX:
        network = network.supernet(new_prefix=AUTO_BLOCK_V6_PREFIX)
    return network


def display(network: Network) -> str:
    """Canonical text: a single address without its prefix, else the CIDR."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def to_hex(address: Address) -> str:
    return format(int(address), f"0{_HEX_WIDTH}x")


def bounds(network: Network) -> tuple[int, str, str]:
    """(version, first, last) as stored: fixed-width hex compares as the numbers do."""
    return network.version, to_hex(network.network_address), to_hex(network.broadcast_address)


def overlaps_any(network: Network, others: Iterable[Network]) -> Network | None:
    """The first of `others` that shares an address with `network`, or None."""
    for other in others:
        if other.version == network.version and network.overlaps(other):  # type: ignore[arg-type]
            return other
    return None


def within_any(network: Network, others: Iterable[Network]) -> Network | None:
    """The first of `others` that holds all of `network`, or None."""
    for other in others:
        if other.version == network.version and network.subnet_of(other):  # type: ignore[arg-type]
            return other
    return None


def contains(networks: Sequence[Network], address: Address) -> bool:
    return any(address.version == n.version and address in n for n in networks)
