"""SFTP download of one remote file to a local file: bounded in size and time, hashed
as it arrives (the caller compares it with the machine's own sha256sum).

Local writes go to a thread (the event loop never waits on the disk). A file larger than
`max_bytes` is refused before a byte is copied (by its size), and a file that grows while
it is read is cut off at `max_bytes` and refused, so a machine can never fill the
platform's disk."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import asyncssh

from taichu.ssh.errors import CHANNEL_ERRORS, SshCommandFailed, SshError, SshTimeout, channel_error

if TYPE_CHECKING:
    from taichu.ssh.session import SshSession

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Downloaded:
    size: int
    sha256: str


class _LocalWriteError(Exception):
    """The local file could not be written (not the connection's fault)."""


async def _write(handle: BinaryIO, chunk: bytes) -> None:
    try:
        await asyncio.to_thread(handle.write, chunk)
    except OSError as e:
        raise _LocalWriteError(e.strerror or str(e)) from e


class TooLarge(SshError):
    """The remote file is larger than the caller allows."""

    status = 422
    reason = "too_large"


async def download(
    session: SshSession,
    remote_path: str,
    local_path: Path,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 (enforced here, around the whole transfer)
) -> Downloaded:
    address = session.address
    digest = hashlib.sha256()
    size = 0
    handle = await asyncio.to_thread(local_path.open, "wb")
    try:
        async with (
            asyncio.timeout(timeout),
            session.connection.conn.start_sftp_client() as sftp,
        ):
            attrs = await sftp.stat(remote_path)
            if attrs.size is not None and attrs.size > max_bytes:
                raise TooLarge(
                    address,
                    f"{address}: {remote_path} is {attrs.size} bytes, more than the "
                    f"{max_bytes} allowed",
                )
            async with sftp.open(remote_path, "rb") as remote:
                while True:
                    chunk = await remote.read(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(
                            address,
                            f"{address}: {remote_path} grew past the {max_bytes} bytes "
                            "allowed while it was read",
                        )
                    digest.update(chunk)
                    await _write(handle, chunk)
    except TimeoutError as e:
        raise SshTimeout(address, f"{address}: download of {remote_path} timed out") from e
    except asyncssh.SFTPError as e:
        raise SshCommandFailed(
            address, 1, f"SFTP could not read {remote_path}: {e.reason[:300]}"
        ) from e
    except CHANNEL_ERRORS as e:
        session.broken = True
        raise channel_error(e, address) from e
    except _LocalWriteError as e:
        raise SshError(address, f"cannot write {local_path}: {e}") from e
    finally:
        await asyncio.to_thread(handle.close)
    return Downloaded(size, digest.hexdigest())
