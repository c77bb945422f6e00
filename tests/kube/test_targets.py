"""The address policy for clusters, and its check at connect time: a connection to a
link-local or metadata address is refused whatever way the address is written, before
a single byte is sent (real sockets, no cluster needed)."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from taichu.errors import Invalid
from taichu.kube import ClusterUnreachable, KubeClient, access_from_token
from taichu.kube.targets import TargetPolicy, always_refused, check_server

USER = TargetPolicy.for_caller(False, [])
ADMIN = TargetPolicy.for_caller(True, [])


@pytest.mark.parametrize(
    ("address", "admin", "user"),
    [
        ("169.254.169.254", "metadata", "metadata"),
        ("::ffff:169.254.169.254", "metadata", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata", "metadata"),  # NAT64
        ("fd00:ec2::254", "metadata", "metadata"),
        ("fe80::1", "metadata", "metadata"),
        ("100.100.100.200", "metadata", "metadata"),
        ("0.0.0.0", "not a host", "not a host"),
        ("224.0.0.1", "not a host", "not a host"),
        ("127.0.0.1", None, "loopback"),
        ("127.9.9.9", None, "loopback"),
        ("::1", None, "loopback"),
        ("::ffff:127.0.0.1", None, "loopback"),
        ("10.0.0.1", None, None),
        ("192.168.0.247", None, None),
        ("2001:db8::1", None, None),
    ],
)
def test_policy(address: str, admin: str | None, user: str | None) -> None:
    ip = ipaddress.ip_address(address)
    for policy, expected in ((ADMIN, admin), (USER, user)):
        why = policy.refusal(ip)
        assert (why is None) == (expected is None), (address, why)
        if expected:
            assert expected in str(why)


def test_allowed_networks_lift_only_the_user_refusal() -> None:
    allowing = TargetPolicy.for_caller(False, ["127.0.0.0/8", "::1"])
    assert allowing.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert allowing.refusal(ipaddress.ip_address("::1")) is None
    everything = TargetPolicy.for_caller(False, ["0.0.0.0/0", "::/0"])
    assert everything.refusal(ipaddress.ip_address("169.254.169.254")) is not None


async def test_host_names_are_checked_by_what_they_resolve_to() -> None:
    with pytest.raises(Invalid, match="resolves to a loopback address"):
        await check_server("https://localhost:6443", USER, "server", 5)
    await check_server("https://localhost:6443", ADMIN, "server", 5)
    with pytest.raises(Invalid, match="cannot be resolved"):
        await check_server("https://no-such-host.invalid", ADMIN, "server", 5)


@pytest.mark.parametrize(
    "server",
    ["https://169.254.169.254", "https://[::ffff:169.254.169.254]", "https://[fd00:ec2::254]"],
)
async def test_connections_to_metadata_addresses_are_refused(server: str) -> None:
    assert always_refused(ipaddress.ip_address(server[8:].strip("[]")))
    client = KubeClient(access_from_token(server, "t"), connect_timeout=5, request_timeout=5)
    started = time.monotonic()
    try:
        with pytest.raises(ClusterUnreachable, match="link-local or cloud metadata"):
            await client.version()
    finally:
        await client.close()
    assert time.monotonic() - started < 2  # refused, not timed out


async def test_a_restricted_access_refuses_loopback_at_connect() -> None:
    """A user's cluster keeps the user's rules at every connect: a name that resolves to
    loopback later (DNS rebinding) is refused before a byte is sent; an unrestricted access
    connects (here: nothing listens, so it is refused by the peer, not by us)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        server = f"https://localhost:{listener.getsockname()[1]}"
        restricted = access_from_token(server, "t").restricted(USER)
        assert restricted.fingerprint != access_from_token(server, "t").fingerprint
        assert "restricted" in repr(restricted)
        client = KubeClient(restricted, connect_timeout=5, request_timeout=5)
        try:
            with pytest.raises(ClusterUnreachable, match="loopback address"):
                await client.version()
        finally:
            await client.close()
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
        allowed = restricted.restricted(TargetPolicy.for_caller(False, ["127.0.0.0/8", "::1"]))
        client = KubeClient(allowed, connect_timeout=5, request_timeout=1)
        try:
            with pytest.raises(ClusterUnreachable) as caught:
                await client.version()  # reached, then no TLS answer
            assert "loopback" not in caught.value.message
        finally:
            await client.close()
