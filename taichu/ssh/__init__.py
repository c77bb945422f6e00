"""How the platform talks to machines over SSH.

    target = SshTarget(address, username, SshCredentials(password=...), become=True)
    async with pool.session(target) as ssh:         # pool = SshPool(settings.ssh)
        await ssh.run("id -u", privileged=True)
        await ssh.upload(data, "/etc/kubernetes/x.conf", privileged=True)

Everything raises `taichu.errors` only: what a machine answers (or fails to) is an
`SshError` with a one-word `reason`; host keys are pinned (or recorded on first use by
the caller from `presented_host_key`).
"""

from taichu.ssh.client import CommandResult, SshPool, SshSession
from taichu.ssh.errors import (
    SshAuthFailed,
    SshCommandFailed,
    SshError,
    SshHostKeyMismatch,
    SshRefused,
    SshSudoRefused,
    SshTimeout,
    SshUnreachable,
)
from taichu.ssh.target import SshCredentials, SshTarget, fingerprint, normalize_host_key

__all__ = [
    "CommandResult",
    "SshAuthFailed",
    "SshCommandFailed",
    "SshCredentials",
    "SshError",
    "SshHostKeyMismatch",
    "SshPool",
    "SshRefused",
    "SshSession",
    "SshSudoRefused",
    "SshTarget",
    "SshTimeout",
    "SshUnreachable",
    "fingerprint",
    "normalize_host_key",
]
