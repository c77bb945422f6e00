"""Commands on a leased connection: timeouts enforced on both ends, output capped, sudo.

A command runs as `timeout -s KILL N sh -c CMD` so the machine itself kills it (and what
it started in its process group) when its time is up, even if the connection is gone;
the client waits a little longer, then closes the channel.

Privileged commands of a non-root user go through sudo: `-n` when sudo needs no password
for the user, else `-S` with the password as the first line of stdin (never on a command
line). The root shell first prints a marker line; a failure without it is sudo refusing,
not the command failing. Every command first prints a begin marker: what the login
shell printed before it (a banner from ~/.bashrc) is dropped from stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

from taichu.ssh.errors import (
    CHANNEL_ERRORS,
    SshCommandFailed,
    SshSudoRefused,
    SshTimeout,
    channel_error,
)
from taichu.ssh.target import SshTarget

if TYPE_CHECKING:
    from taichu.ssh.client import Connection, SshPool
    from taichu.ssh.download import Downloaded

log = logging.getLogger("taichu.ssh")

SUDO_MARKER = "taichu-sudo-ok-6f1c"
BEGIN_MARKER = "taichu-begin-3e9d"
_KILL_GRACE = 2.0  # the machine's own timeout fires first; then the client gives up
_CHUNK = 65536


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    truncated: bool


async def _read_capped(stream: asyncssh.SSHReader[bytes], cap: int) -> tuple[bytes, bool]:
    """Up to `cap` bytes; the rest is read and dropped so the command can finish."""
    buf = bytearray()
    truncated = False
    while chunk := await stream.read(_CHUNK):
        room = cap - len(buf)
        if room > 0:
            buf += chunk[:room]
        if len(chunk) > room:
            truncated = True
    return bytes(buf), truncated


def _exit_status(process: asyncssh.SSHClientProcess[bytes]) -> int:
    if process.exit_signal:
        name = process.exit_signal[0]
        try:
            return 128 + int(signal.Signals[f"SIG{name}"])
        except KeyError:
            return 255
    status = process.exit_status
    return 255 if status is None or status < 0 else status


class SshSession:
    """One target, one leased connection. Not for use after its `pool.session` block."""

    def __init__(self, pool: SshPool, target: SshTarget, connection: Connection) -> None:
        self.pool = pool
        self.target = target
        self.connection = connection
        self.broken = False
        self._redialled = False

    @property
    def presented_host_key(self) -> str:
        return self.connection.presented_host_key

    @property
    def address(self) -> str:
        return self.target.address

    # --- commands ------------------------------------------------------------------------

    async def run(
        self,
        command: str,
        *,
        privileged: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (the contract's name; enforced inside)
        check: bool = True,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run `command` with the login shell. `privileged` goes through sudo when the
        target has `become` (as root, or without become, it runs as the user). Raises
        SshCommandFailed on a non-zero exit when `check`, SshTimeout when `timeout`
        (default: settings' command_timeout) is up, SshSudoRefused when sudo says no."""
        timeout = timeout or self.pool.settings.command_timeout
        sudo = privileged and self.target.needs_sudo
        feed = stdin or b""
        wrapped = f"timeout -s KILL {math.ceil(timeout)} sh -c {shlex.quote(command)}"
        if sudo:
            mode = await self._sudo_mode()
            inner = shlex.quote(f'echo {SUDO_MARKER}; eval "$1"')
            if mode == "password":
                flags = "-S -k -p ''"
                password = self.target.credentials.password or ""
                feed = password.encode() + b"\n" + feed
            else:
                flags = "-n"
            wrapped = f"sudo {flags} -- sh -c {inner} sh {shlex.quote(wrapped)}"
        # What the login shell prints first (a banner in ~/.bashrc) is not the command's.
        wrapped = f"echo {BEGIN_MARKER}; {wrapped}"
        # The markers do not count against the output cap.
        markers = len(BEGIN_MARKER) + 1 + (len(SUDO_MARKER) + 1 if sudo else 0)
        status, out, err, truncated = await self._exec(wrapped, feed, timeout, markers)
        begin = out.find(BEGIN_MARKER.encode() + b"\n")
        if begin >= 0:
            out = out[begin + len(BEGIN_MARKER) + 1 :]
        if sudo:
            head = SUDO_MARKER.encode() + b"\n"
            if out.startswith(head):
                out = out[len(head) :]
            else:
                raise SshSudoRefused(
                    self.address,
                    f"{self.address}: sudo refused for user {self.target.username!r}: "
                    f"{_sudo_reason(err)}",
                )
        result = CommandResult(
            status,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            truncated,
        )
        if check and status != 0:
            raise SshCommandFailed(self.address, status, result.stderr)
        return result

    async def _sudo_mode(self) -> str:
        """Once per connection: does sudo need this user's password?"""
        c = self.connection
        if c.sudo_mode is None:
            status, _, err, _ = await self._exec("sudo -n true", b"", 30.0)
            if status == 0:
                c.sudo_mode = "nopasswd"
            elif self.target.credentials.password:
                c.sudo_mode = "password"
            else:
                raise SshSudoRefused(
                    self.address,
                    f"{self.address}: sudo refused for user {self.target.username!r} "
                    f"(it needs a password and the machine has none stored): "
                    f"{_sudo_reason(err)}",
                )
        return c.sudo_mode

    async def _exec(
        self, command: str, feed: bytes, limit: float, headroom: int = 0
    ) -> tuple[int, bytes, bytes, bool]:
        cap = self.pool.settings.max_output_bytes
        # Before the channel opens: the machine may start the command (and its `timeout`)
        # before a loaded event loop sees the open confirmed.
        started = time.monotonic()
        process = await self._open(command)
        try:
            async with asyncio.timeout(limit + _KILL_GRACE):
                if feed:
                    process.stdin.write(feed)
                process.stdin.write_eof()
                (out, t1), (err, t2) = await asyncio.gather(
                    _read_capped(process.stdout, cap + headroom), _read_capped(process.stderr, cap)
                )
                await process.wait_closed()
        except TimeoutError as e:
            self._kill(process)
            raise SshTimeout(
                self.address, f"{self.address}: command timed out after {limit:g}s"
            ) from e
        except asyncio.CancelledError:
            self._kill(process)
            raise
        except CHANNEL_ERRORS as e:
            self.broken = True
            process.close()
            raise channel_error(e, self.address) from e
        status = _exit_status(process)
        if status in (124, 137) and time.monotonic() - started >= limit:
            raise SshTimeout(self.address, f"{self.address}: command timed out after {limit:g}s")
        return status, out, err, t1 or t2

    def _kill(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            process.send_signal("KILL")
        process.close()

    async def _open(self, command: str) -> asyncssh.SSHClientProcess[bytes]:
        """A channel for `command`. A pooled connection found dead (the machine rebooted,
        sshd restarted) is redialled once: the command never started, so this is safe."""
        while True:
            try:
                async with asyncio.timeout(self.pool.settings.connect_timeout):
                    return await self.connection.conn.create_process(
                        command, encoding=None, request_pty=False, env=None, send_env=None
                    )
            except (*CHANNEL_ERRORS, TimeoutError) as e:
                if self._redialled or self.connection.uses <= 1:
                    self.broken = True
                    raise channel_error(e, self.address) from e
                await self._redial()

    async def _redial(self) -> None:
        self._redialled = True
        old = self.connection
        old.close()
        log.info("ssh %s: pooled connection broken, redialling", self.address)
        try:
            self.connection = await self.pool.dial(old.key, self.target)
        except BaseException:
            # The slot stays counted until the session ends and releases it as broken.
            self.broken = True
            raise

    # --- files ---------------------------------------------------------------------------

    async def upload(
        self,
        data: bytes | Path,
        remote_path: str,
        *,
        mode: int = 0o644,
        privileged: bool = False,
    ) -> bool:
        """Write `data` (bytes, or a local file streamed) to `remote_path` (via a temporary
        file and a rename), verified by sha256 afterwards. False when an identical file is
        already there."""
        from taichu.ssh.upload import upload

        return await upload(self, data, remote_path, mode=mode, privileged=privileged)

    async def download(
        self,
        remote_path: str,
        local_path: Path,
        *,
        max_bytes: int,
        timeout: float | None = None,  # noqa: ASYNC109 (enforced inside)
    ) -> Downloaded:
        """Copy a remote file the login user can read to `local_path`, at most
        `max_bytes` (TooLarge beyond), within `timeout` (default: upload_timeout)."""
        from taichu.ssh.download import download

        limit = timeout or self.pool.settings.upload_timeout
        return await download(self, remote_path, local_path, max_bytes=max_bytes, timeout=limit)


def _sudo_reason(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1][:300] if lines else "no reason given").strip()
