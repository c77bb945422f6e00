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

import asyncssh

from taichu.ssh.errors import SshHostKeyMismatch, connect_error
from taichu.ssh.target import SshTarget, normalize_host_key

log = logging.getLogger("taichu.ssh")


@dataclass
class Dialled:
    conn: asyncssh.SSHClientConnection
    presented_host_key: str


class _HostKeyCheck(asyncssh.SSHClient):
    def __init__(self, pinned: str | None) -> None:
        self.pinned = pinned
        self.presented: str | None = None

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


async def dial(target: SshTarget, connect_timeout: float) -> Dialled:
    """Connect and authenticate; every failure is an SshError chained to its cause."""
    creds = target.credentials
    pinned = normalize_host_key(target.host_key) if target.host_key else None
    check = _HostKeyCheck(pinned)
    try:
        async with asyncio.timeout(connect_timeout):
            client_keys = None
            if creds.private_key:
                # Key parsing (and passphrase key derivation) is slow: not on the loop.
                key = await asyncio.to_thread(_load_key, creds.private_key, creds.passphrase)
                client_keys = [key]
            methods = (["publickey"] if client_keys else []) + (
                ["password", "keyboard-interactive"] if creds.password else []
            )
            host_key_algs: object = ()
            if pinned:
                host_key_algs = [
                    a.decode() for a in asyncssh.import_public_key(pinned).sig_algorithms
                ]
            conn = await asyncssh.connect(
                target.address,
                target.port,
                client_factory=lambda: check,
                username=target.username,
                password=creds.password or None,
                client_keys=client_keys,
                passphrase=None,
                preferred_auth=methods or ["none"],
                known_hosts=_no_known_hosts,
                server_host_key_algs=host_key_algs,
                # Nothing of this process goes along: no ~/.ssh/config, no agent (its keys
                # or forwarding), no environment, no X11, no pty.
                config=None,
                agent_path=None,
                agent_forwarding=False,
                x11_forwarding=False,
                env=None,
                send_env=None,
                request_pty=False,
                gss_auth=False,
                gss_kex=False,
                host_based_auth=False,
                connect_timeout=connect_timeout,
                login_timeout=connect_timeout,
                keepalive_interval=30,
                keepalive_count_max=3,
            )
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
    return Dialled(conn, check.presented)
