"""Addresses as sortable keys, so "address or CIDR" filters are index range scans."""

from __future__ import annotations

import ipaddress

from taichu.errors import BadRequest

_MAPPED = int(ipaddress.IPv6Address("::ffff:0:0"))


def _key(value: int) -> str:
    return format(value, "032x")


def ip_key(ip: str | None) -> str:
    """32 hex digits of the address (IPv4 as IPv4-mapped IPv6); "" if it is no address."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv4Address):
        return _key(_MAPPED | int(address))
    return _key(int(address))


def key_range(text: str, field: str) -> tuple[str, str]:
    """The inclusive (low, high) keys of an address or CIDR; 400 naming `field` else."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as e:
        raise BadRequest(f"{field}: not an IP address or CIDR: {text[:64]!r}") from e
    low, high = int(network.network_address), int(network.broadcast_address)
    if network.version == 4:
        low, high = _MAPPED | low, _MAPPED | high
    return _key(low), _key(high)
