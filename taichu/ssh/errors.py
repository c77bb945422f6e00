"""What a machine answered (or failed to answer) over SSH: an error branch of its own.

Nothing from asyncssh or the socket layer leaves `taichu.ssh`: `connect_error` translates
what kept a connection from being made, `channel_error` what broke one in use. Messages
name the machine and what to check; they never contain a password, a key or command
output beyond a bounded stderr tail.
"""

from __future__ import annotations

import errno
import re
import socket

import asyncssh

from taichu.errors import TaichuError, Unavailable
from taichu.ssh.target import fingerprint

STDERR_TAIL = 2000
# Control characters a machine may put in what it prints (NUL, escapes, carriage returns):
# not for a message that is logged, shown and stored (PostgreSQL text refuses NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(text: str) -> str:
    """`text` without control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", text)


class SshError(TaichuError):
    """A machine's answer, never the caller's own error: 502 (the platform is the gateway)."""

    status = 502
    reason = "error"

    def __init__(self, address: str, message: str) -> None:
        # Messages quote what the machine said (stderr, a disconnect reason).
        super().__init__(printable(message))
        self.address = address


class SshUnreachable(SshError, Unavailable):
    status = 503
    reason = "unreachable"


class SshRefused(SshError, Unavailable):
    status = 503
    reason = "refused"


class SshTimeout(SshError, Unavailable):
    status = 503
    reason = "timeout"


class SshAuthFailed(SshError):
    reason = "authentication"


class SshHostKeyMismatch(SshError):
    reason = "host_key_mismatch"

    def __init__(self, address: str, expected: str, presented: str) -> None:
        super().__init__(
            address,
            f"host key of {address} changed: expected {fingerprint(expected)}, "
            f"presented {fingerprint(presented)}",
        )
        self.expected = expected
        self.presented = presented


class SshSudoRefused(SshError):
    reason = "sudo_refused"


class SshCommandFailed(SshError):
    reason = "command_failed"

    def __init__(self, address: str, exit_status: int, stderr: str) -> None:
        tail = stderr[-STDERR_TAIL:].strip()
        message = f"{address}: command failed with exit status {exit_status}"
        super().__init__(address, f"{message}: {tail}" if tail else message)
        self.exit_status = exit_status
        self.stderr = tail


_UNREACHABLE_ERRNOS = {
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
    errno.EADDRNOTAVAIL,
}


def _where(address: str, port: int) -> str:
    return f"{address}:{port}" if port != 22 else address


def connect_error(exc: BaseException, address: str, port: int, username: str) -> SshError:
    """The error for a failed connect + key exchange + authentication."""
    where = _where(address, port)
    if isinstance(exc, SshError):
        return exc
    if isinstance(exc, TimeoutError):
        return SshTimeout(address, f"{where}: SSH connection timed out")
    if isinstance(exc, asyncssh.PermissionDenied):
        return SshAuthFailed(
            address,
            f"{where}: authentication failed for user {username!r} "
            "(check the password or private key)",
        )
    if isinstance(exc, (asyncssh.KeyImportError, asyncssh.KeyEncryptionError)):
        # asyncssh's texts are fixed sentences about the format ("Incorrect passphrase",
        # "Unable to decrypt ... requires bcrypt"), never the key itself.
        return SshAuthFailed(
            address,
            f"{where}: authentication not attempted: the private key could not be read "
            f"({str(exc)[:200] or 'wrong passphrase, or not an OpenSSH/PEM private key'})",
        )
    if isinstance(exc, ConnectionRefusedError):
        return SshRefused(address, f"{where}: connection refused (is sshd running?)")
    if isinstance(exc, socket.gaierror):
        return SshUnreachable(address, f"{where}: address does not resolve")
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return SshUnreachable(address, f"{where}: unreachable ({exc.strerror})")
    if isinstance(exc, asyncssh.ConnectionLost):
        return SshUnreachable(address, f"{where}: connection closed during the SSH handshake")
    if isinstance(exc, asyncssh.DisconnectError):
        return SshUnreachable(address, f"{where}: SSH handshake failed: {exc.reason[:300]}")
    if isinstance(exc, OSError):
        return SshUnreachable(address, f"{where}: {exc.strerror or type(exc).__name__}")
    return SshUnreachable(address, f"{where}: SSH connection failed ({type(exc).__name__})")


def channel_error(exc: BaseException, address: str) -> SshError:
    """The error for a connection that broke while in use (command, SFTP)."""
    if isinstance(exc, SshError):
        return exc
    if isinstance(exc, TimeoutError):
        return SshTimeout(address, f"{address}: timed out")
    if isinstance(exc, asyncssh.ChannelOpenError):
        return SshUnreachable(address, f"{address}: the machine refused a new channel")
    detail = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
    detail = str(detail)[:300] if detail else type(exc).__name__
    return SshUnreachable(address, f"{address}: SSH connection lost ({detail})")


# What a connection in use may raise when the connection itself is gone.
CHANNEL_ERRORS = (asyncssh.Error, OSError, EOFError, asyncssh.misc.ChannelOpenError)
