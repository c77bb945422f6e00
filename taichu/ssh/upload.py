"""SFTP upload: skip if identical, write a temporary file, rename, verify by sha256.

The data is bytes, or a local file (a Path) streamed in chunks read off the event loop,
so a large binary is never held in memory whole.

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
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import asyncssh

from taichu.errors import Invalid
from taichu.ssh.errors import CHANNEL_ERRORS, SshCommandFailed, SshError, SshTimeout, channel_error

if TYPE_CHECKING:
    from taichu.ssh.session import SshSession

_SHA256 = re.compile(r"^([0-9a-f]{64})\s")
_THREAD_HASH_BYTES = 1 << 20
_FILE_CHUNK = 4 << 20  # one SFTP write (asyncssh splits it into parallel requests)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_FILE_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _sha256(data: bytes | Path) -> str:
    if isinstance(data, Path):
        return await asyncio.to_thread(_file_sha256, data)
    if len(data) > _THREAD_HASH_BYTES:
        return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    return hashlib.sha256(data).hexdigest()


class _LocalReadError(Exception):
    """The local file could not be read (not the connection's fault)."""


async def _read(local: BinaryIO) -> bytes:
    try:
        return await asyncio.to_thread(local.read, _FILE_CHUNK)
    except OSError as e:
        raise _LocalReadError(e.strerror or str(e)) from e


async def _write_file(f: asyncssh.SFTPClientFile, path: Path) -> None:
    try:
        local = await asyncio.to_thread(path.open, "rb")
    except OSError as e:
        raise _LocalReadError(e.strerror or str(e)) from e
    try:
        while chunk := await _read(local):
            await f.write(chunk)
    finally:
        await asyncio.to_thread(local.close)


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


async def _sftp_write(session: SshSession, data: bytes | Path, path: str, mode: int) -> None:
    settings = session.pool.settings
    try:
        async with (
            asyncio.timeout(settings.upload_timeout),
            session.connection.conn.start_sftp_client() as sftp,
        ):
            async with sftp.open(path, "wb", asyncssh.SFTPAttrs(permissions=mode)) as f:
                if isinstance(data, Path):
                    await _write_file(f, data)
                else:
                    await f.write(data)
            await sftp.chmod(path, mode)
    except TimeoutError as e:
        raise SshTimeout(session.address, f"{session.address}: upload timed out") from e
    except _LocalReadError as e:
        raise SshError(session.address, f"cannot read {data}: {e}") from e
    except asyncssh.SFTPError as e:
        raise SshCommandFailed(
            session.address, 1, f"SFTP could not write {path}: {e.reason[:300]}"
        ) from e
    except CHANNEL_ERRORS as e:
        session.broken = True
        raise channel_error(e, session.address) from e


async def upload(
    session: SshSession, data: bytes | Path, remote_path: str, *, mode: int, privileged: bool
) -> bool:
    _check_path(remote_path)
    try:
        digest = await _sha256(data)
    except OSError as e:  # only a local file (a Path) is read here
        raise SshError(session.address, f"cannot read {data}: {e.strerror or e}") from e
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
