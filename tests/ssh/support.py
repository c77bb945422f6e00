"""Targets for the lab's SSH hosts."""

from __future__ import annotations

from taichu.lab.ssh_hosts import SshHost
from taichu.ssh import SshCredentials, SshTarget

HOSTS = "host"  # `password=HOSTS`: the host's own password


def target(
    host: SshHost,
    user: str = "root",
    *,
    password: str | None = HOSTS,
    key: bool = False,
    private_key: str | None = None,
    passphrase: str | None = None,
    become: bool | None = None,
    pinned: bool = False,
) -> SshTarget:
    """A target of `host` as `user` (a LAB_USERS name or root): by the host's password
    (or `password`, None for none) and/or its client key (`key=True`, or `private_key`)."""
    credentials = SshCredentials(
        password=host.password if password is HOSTS else password,
        private_key=private_key or (host.private_key if key else None),
        passphrase=passphrase,
    )
    return SshTarget(
        host.address,
        user,
        credentials,
        port=host.port,
        host_key=host.host_public_key if pinned else None,
        become=user != "root" if become is None else become,
    )
