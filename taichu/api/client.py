"""The client's address: the one answer audit, login throttling and (later) traffic
sampling use.

`X-Forwarded-For` is believed only when the TCP peer is a trusted proxy
(`TAICHU_TRUSTED_PROXIES`); then the client is the rightmost hop that is not itself a
trusted proxy. Entries to its left were written by the client and prove nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from taichu.errors import Forbidden

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# A proxy chain longer than this is not a chain of ours.
_MAX_HOPS = 32


def _parse_ip(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:5555"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


UNKNOWN_CLIENT = "unknown"


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def resolve_client(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]
) -> str | None:
    """The client address given the TCP peer, the X-Forwarded-For header values (in the
    order received) and the trusted proxies."""
    if peer is None or not proxies:
        return peer
    peer_ip = _parse_ip(peer)
    if peer_ip is None or not _trusted(peer_ip, proxies):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")][-_MAX_HOPS:]
    nearest = peer_ip
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            # What a trusted proxy writes parses; garbage ("unknown", "", a name) came from
            # beyond it or from a proxy that does not know. Not the proxy itself: that would
            # make such a client loopback (the development token) and share the proxy's
            # throttle and audit address. All such clients share one "unknown" address.
            return UNKNOWN_CLIENT
        if not _trusted(address, proxies):
            return str(address)
        nearest = address
    return str(nearest)


def _proxies(scope: Scope) -> Sequence[Network]:
    ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
    return ctx.settings.trusted_proxies if ctx is not None else ()


def client_address(scope: Scope) -> str | None:
    """The client address of an HTTP request (ASGI scope), per the app's settings."""
    client = scope.get("client")
    peer = client[0] if client else None
    proxies = _proxies(scope)
    if not proxies:
        return peer
    values = [
        value.decode("latin-1")
        for name, value in scope.get("headers") or ()
        if name.lower() == b"x-forwarded-for"
    ]
    return resolve_client(peer, values, proxies)


def is_loopback(address: str | None) -> bool:
    if address is None:
        return False
    parsed = _parse_ip(address)
    return parsed is not None and parsed.is_loopback


def require_loopback(scope: Scope, what: str) -> None:
    """Refuse (403) unless the request comes from this machine."""
    if not is_loopback(client_address(scope)):
        raise Forbidden(f"{what} is answered only to clients on this machine (loopback)")


class ForwardedProtoMiddleware:
    """Behind a TLS-terminating trusted proxy, the request's scheme is the proxy's
    (`X-Forwarded-Proto`), so absolute URLs the app builds (slash redirects) stay https."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            proto = _forwarded_proto(scope)
            if proto is not None:
                scope["scheme"] = proto
        await self.app(scope, receive, send)


def _forwarded_proto(scope: Scope) -> str | None:
    proxies = _proxies(scope)
    client = scope.get("client")
    peer = _parse_ip(client[0]) if client and proxies else None
    if peer is None or not _trusted(peer, proxies):
        return None
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-forwarded-proto":
            proto = value.decode("latin-1").split(",")[-1].strip().lower()
            return proto if proto in ("http", "https") else None
    return None
