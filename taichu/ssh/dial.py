"""Opening one SSH connection: authentication, pinned host keys, nothing forwarded.

The host key is checked before any credential is sent (asyncssh asks
`validate_host_public_key` during key exchange), so a machine presenting another key never
sees the password. With a pinned key only its algorithm is offered, so a server holding
several host keys shows the pinned one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import asyncssh
from asyncssh.public_key import get_default_public_key_algs

from taichu.ssh.errors import SshHostKeyMismatch, connect_error
from taichu.ssh.target import SshTarget, normalize_host_key

log = logging.getLogger("taichu.ssh")
# asyncssh logs every connection, channel and command at INFO: with hundreds of machines
# checked a minute that drowns the server's log. Left alone if logging set a level.
if logging.getLogger("asyncssh").level == logging.NOTSET:
    logging.getLogger("asyncssh").setLevel(logging.WARNING)


class _HostKeyCheck(asyncssh.SSHClient):
    """asyncssh's callbacks for one connection: the host key, and the connection's end."""

    def __init__(self, pinned: str | None) -> None:
        self.pinned = pinned
        self.presented: str | None = None
        self.lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.presented = normalize_host_key(key.export_public_key("openssh").decode())
        return self.pinned is None or self.presented == self.pinned


def _no_known_hosts(host: str, addr: str, port: int | None) -> tuple[list[str], ...]:
    # Empty trust lists (not None): asyncssh then asks _HostKeyCheck about every key.
    return ([], [], [])


def _load_key(text: str, passphrase: str | None) -> asyncssh.SSHKey:
    return asyncssh.import_private_key(text, passphrase or None)


def _options(target: SshTarget, client_keys: list[asyncssh.SSHKey] | None) -> dict[str, Any]:
    creds = target.credentials
    methods = (["publickey"] if client_keys else []) + (
        ["password", "keyboard-interactive"] if creds.password else []
    )
    return {
        "username": target.username,
        "password": creds.password or None,
        "client_keys": client_keys,
        "passphrase": None,
        "preferred_auth": methods or ["none"],
        "known_hosts": _no_known_hosts,
        # Nothing of this process goes along: no ~/.ssh/config, no agent (its keys or
        # forwarding), no environment, no X11, no pty.
        "config": None,
        "agent_path": None,
        "agent_forwarding": False,
        "x11_forwarding": False,
        "env": None,
        "send_env": None,
        "request_pty": False,
        "gss_auth": False,
        "gss_kex": False,
        "host_based_auth": False,
        "keepalive_interval": 30,
        "keepalive_count_max": 3,
    }


def _no_common_host_key_type(e: Exception, check: _HostKeyCheck) -> bool:
    # Whichever side notices first: asyncssh's "No matching host key algorithm", or sshd
    # hanging up ("no matching host key type found": lost, or reset) before showing a key.
    if isinstance(e, asyncssh.KeyExchangeFailed):
        return "host key" in str(e.reason)
    hung_up = (asyncssh.ConnectionLost, ConnectionResetError, BrokenPipeError)
    return isinstance(e, hung_up) and check.presented is None


async def dial(target: SshTarget, connect_timeout: float) -> Dialled:
    """Connect and authenticate; every failure is an SshError chained to its cause."""
    creds = target.credentials
    pinned = normalize_host_key(target.host_key) if target.host_key else None
    check = _HostKeyCheck(pinned)
    plain = [a.decode() for a in get_default_public_key_algs()]
    # Plain keys only (no host certificates: there is no CA to check them by); with a pin,
    # only its algorithms, so a server with several keys shows the pinned one.
    algs = (
        [a.decode() for a in asyncssh.import_public_key(pinned).sig_algorithms] if pinned else plain
    )
    try:
        async with asyncio.timeout(connect_timeout):
            client_keys = None
            if creds.private_key:
                # Key parsing (and passphrase key derivation) is slow: not on the loop.
                key = await asyncio.to_thread(_load_key, creds.private_key, creds.passphrase)
                client_keys = [key]
            options = _options(target, client_keys)

            async def connect(host_key_algs: Any) -> Any:
                return await asyncssh.connect(
                    target.address,
                    target.port,
                    client_factory=lambda: check,
                    server_host_key_algs=host_key_algs,
                    connect_timeout=connect_timeout,
                    login_timeout=connect_timeout,
                    **options,
                )

            try:
                conn = await connect(algs)
            except (asyncssh.Error, OSError) as e:
                if not (pinned and _no_common_host_key_type(e, check)):
                    raise
                # The machine has no key of the pinned type any more: ask for any plain
                # key, still against the pin, to name the key it presents instead.
                conn = await connect(plain)
    except asyncssh.HostKeyNotVerifiable as e:
        if pinned and check.presented and check.presented != pinned:
            raise SshHostKeyMismatch(target.address, pinned, check.presented) from e
        raise connect_error(e, target.address, target.port, target.username) from e
    except (asyncssh.Error, OSError, TimeoutError, ValueError) as e:
        error = connect_error(e, target.address, target.port, target.username)
        log.info("ssh %s@%s:%d: %s", target.username, target.address, target.port, error)
        raise error from e
    assert check.presented is not None
    log.debug("ssh %s@%s:%d connected", target.username, target.address, target.port)
    return Dialled(conn, check.presented, check)


@dataclass
class Dialled:
    conn: asyncssh.SSHClientConnection
    presented_host_key: str
    events: _HostKeyCheck

    @property
    def closed(self) -> bool:
        return self.events.lost
