"""SFTP upload: skip if identical, write a temporary file, rename, verify by sha256.

As root (or without sudo) the file is written next to its destination and renamed into
place, so a reader never sees half a file. A privileged upload by a sudo user goes to a
private temporary directory of the user first; root then copies it next to the
destination, sets the mode and renames it.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import re
import secrets
import shlex
from typing import TYPE_CHECKING

import asyncssh

from taichu.errors import Invalid
from taichu.ssh.errors import CHANNEL_ERRORS, SshCommandFailed, SshError, SshTimeout, channel_error

if TYPE_CHECKING:
    from taichu.ssh.session import SshSession

_SHA256 = re.compile(r"^([0-9a-f]{64})\s")
_THREAD_HASH_BYTES = 1 << 20


async def _sha256(data: bytes) -> str:
    if len(data) > _THREAD_HASH_BYTES:
        return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    return hashlib.sha256(data).hexdigest()


async def remote_sha256(session: SshSession, path: str, *, privileged: bool) -> str | None:
    """sha256 of a remote regular file, None when there is none."""
    result = await session.run(
        f"test -f {shlex.quote(path)} && sha256sum -- {shlex.quote(path)}",
        privileged=privileged,
        check=False,
    )
    match = _SHA256.match(result.stdout)
    return match.group(1) if result.exit_status == 0 and match else None


def _check_path(path: str) -> None:
    if not path.startswith("/") or "\0" in path or "\n" in path or path.endswith("/"):
        raise Invalid("remote_path must be an absolute file path")


async def _sftp_write(session: SshSession, data: bytes, path: str, mode: int) -> None:
    settings = session.pool.settings
    try:
        async with (
            asyncio.timeout(settings.upload_timeout),
            session.connection.conn.start_sftp_client() as sftp,
        ):
            async with sftp.open(path, "wb", asyncssh.SFTPAttrs(permissions=mode)) as f:
                await f.write(data)
            await sftp.chmod(path, mode)
    except TimeoutError as e:
        raise SshTimeout(session.address, f"{session.address}: upload timed out") from e
    except asyncssh.SFTPError as e:
        raise SshCommandFailed(
            session.address, 1, f"SFTP could not write {path}: {e.reason[:300]}"
        ) from e
    except CHANNEL_ERRORS as e:
        session.broken = True
        raise channel_error(e, session.address) from e


async def upload(
    session: SshSession, data: bytes, remote_path: str, *, mode: int, privileged: bool
) -> bool:
    _check_path(remote_path)
    digest = await _sha256(data)
    if await remote_sha256(session, remote_path, privileged=privileged) == digest:
        return False
    directory, name = posixpath.split(remote_path)
    tag = secrets.token_hex(6)
    partial = posixpath.join(directory, f".{name}.taichu-{tag}")
    q_path, q_partial = shlex.quote(remote_path), shlex.quote(partial)
    if privileged and session.target.needs_sudo:
        staging = (await session.run("mktemp -d", check=True)).stdout.strip()
        if not staging.startswith("/"):
            raise SshError(session.address, f"{session.address}: mktemp gave no directory")
        staged = posixpath.join(staging, "upload")
        try:
            await _sftp_write(session, data, staged, 0o600)
            await session.run(
                f"cp -- {shlex.quote(staged)} {q_partial} && chmod {mode:o} {q_partial} "
                f"&& mv -f -- {q_partial} {q_path} || {{ rm -f -- {q_partial}; exit 1; }}",
                privileged=True,
            )
        finally:
            await session.run(f"rm -rf -- {shlex.quote(staging)}", check=False)
    else:
        try:
            await _sftp_write(session, data, partial, mode)
            await session.run(f"mv -f -- {q_partial} {q_path}", privileged=privileged)
        except Exception:
            if not session.broken:
                await session.run(f"rm -f -- {q_partial}", check=False)
            raise
    if await remote_sha256(session, remote_path, privileged=privileged) != digest:
        raise SshError(
            session.address,
            f"{session.address}: {remote_path} does not have the checksum of what was "
            "uploaded after writing it",
        )
    return True
