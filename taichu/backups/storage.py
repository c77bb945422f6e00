"""Where archives live: a local directory or S3-compatible object storage.

Both write an archive as a stream and make it visible only once it is complete (a rename;
the completion of a multipart upload), so a failed or interrupted backup leaves nothing
that looks like an archive, and `delete` also removes any unfinished remains."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

from taichu.backups.s3 import S3Client, S3Config, S3Error
from taichu.config import BackupSettings, Settings
from taichu.errors import NotFound, Unavailable

ARCHIVE_SUFFIX = ".tbk"
PARTIAL_SUFFIX = ".partial"
READ_BLOCK = 1 << 20
MAX_PARTS = 10_000  # the S3 limit of parts per multipart upload


class StorageError(Unavailable):
    """The backup storage is misconfigured or cannot be used."""


class Upload(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None: ...

    async def abort(self) -> None: ...


class Storage(Protocol):
    name: str

    def key_for(self, cluster_id: str, backup_id: str) -> str: ...

    def location(self, key: str) -> str: ...

    async def upload(self, key: str) -> Upload: ...

    def read(self, key: str) -> AsyncIterator[bytes]: ...

    def local_path(self, key: str) -> Path | None: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def close(self) -> None: ...


# --- local directory ---------------------------------------------------------------------


class LocalUpload:
    def __init__(self, final: Path) -> None:
        self.final = final
        self.partial = final.with_name(final.name + PARTIAL_SUFFIX)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.partial.unlink(missing_ok=True)  # remains of an attempt that died
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._handle: BinaryIO | None = os.fdopen(fd, "wb", buffering=READ_BLOCK)

    async def write(self, data: bytes) -> None:
        assert self._handle is not None, "upload already finished"
        self._handle.write(data)

    async def commit(self) -> None:
        assert self._handle is not None, "upload already finished"
        handle, self._handle = self._handle, None
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(self.partial, self.final)
        # The rename is durable only once the directory entry is.
        dir_fd = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def abort(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()
        self.partial.unlink(missing_ok=True)


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def key_for(self, cluster_id: str, backup_id: str) -> str:
        return f"{cluster_id}/{backup_id}{ARCHIVE_SUFFIX}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:  # keys are ours, but never trust a path blindly
            raise StorageError(f"archive key {key!r} is outside the backup directory")
        return path

    def location(self, key: str) -> str:
        return str(self._path(key))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def upload(self, key: str) -> Upload:
        try:
            return LocalUpload(self._path(key))
        except OSError as e:
            raise StorageError(f"cannot write to the backup directory {self.root}: {e}") from e

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError as e:
            raise NotFound(f"backup archive {path} does not exist") from e
        with handle:
            while data := handle.read(READ_BLOCK):
                yield data

    async def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + PARTIAL_SUFFIX).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: other backups of the cluster
            path.parent.rmdir()

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def close(self) -> None:
        return None


# --- S3 ----------------------------------------------------------------------------------


class S3Upload:
    """Buffers one part; an archive smaller than a part is a single PUT, a larger one a
    multipart upload whose parts are sent as they fill."""

    def __init__(self, client: S3Client, bucket: str, key: str, part_size: int) -> None:
        self.client, self.bucket, self.key, self.part_size = client, bucket, key, part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._etags: list[str] = []

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self.part_size:
            await self._send_part()

    async def _send_part(self) -> None:
        if len(self._etags) >= MAX_PARTS:
            raise StorageError(
                f"archive exceeds {MAX_PARTS} parts of {self.part_size >> 20} "
                "MiB: raise TAICHU_BACKUPS__S3_PART_SIZE_MB"
            )
        if self._upload_id is None:
            self._upload_id = await self.client.create_multipart(self.bucket, self.key)
        body = bytes(self._buffer)
        self._buffer.clear()
        self._etags.append(
            await self.client.upload_part(
                self.bucket, self.key, self._upload_id, len(self._etags) + 1, body
            )
        )

    async def commit(self) -> None:
        if self._upload_id is None:
            await self.client.put_object(self.bucket, self.key, bytes(self._buffer))
        else:
            if self._buffer:
                await self._send_part()
            await self.client.complete_multipart(
                self.bucket, self.key, self._upload_id, self._etags
            )
        self._buffer.clear()

    async def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            await self.client.abort_multipart(self.bucket, self.key, upload_id)


class S3Storage:
    name = "s3"

    def __init__(self, settings: BackupSettings) -> None:
        missing = [
            f"TAICHU_BACKUPS__{n.upper()}"
            for n in ("s3_endpoint", "s3_bucket", "s3_access_key_id", "s3_secret_access_key")
            if not getattr(settings, n)
        ]
        if missing:
            raise StorageError(f"S3 backup storage is not configured: set {', '.join(missing)}")
        assert settings.s3_endpoint and settings.s3_bucket
        assert settings.s3_access_key_id and settings.s3_secret_access_key
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix.strip("/")
        self.part_size = settings.s3_part_size_mb << 20
        self.client = S3Client(
            S3Config(
                endpoint=settings.s3_endpoint,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                session_token=settings.s3_session_token,
                addressing_style=settings.s3_addressing_style,
                timeout_seconds=settings.s3_timeout_seconds,
            )
        )

    def key_for(self, cluster_id: str, backup_id: str) -> str:
        name = f"{cluster_id}/{backup_id}{ARCHIVE_SUFFIX}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def local_path(self, key: str) -> Path | None:
        return None

    async def upload(self, key: str) -> Upload:
        return S3Upload(self.client, self.bucket, key, self.part_size)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async for data in self.client.get_object(self.bucket, key, READ_BLOCK):
            yield data

    async def delete(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            await self.client.delete_object(self.bucket, key)
        for upload_key, upload_id in await self.client.list_multipart(self.bucket, key):
            if upload_key == key:
                await self.client.abort_multipart(self.bucket, key, upload_id)

    async def exists(self, key: str) -> bool:
        return await self.client.head_object(self.bucket, key) is not None

    async def close(self) -> None:
        await self.client.close()


def local_root(settings: Settings) -> Path:
    return settings.backups.local_dir or (settings.data_dir / "backups")


def open_storage(settings: Settings, backend: str | None = None) -> Storage:
    """The configured backend, or the one an existing archive was written to."""
    backend = backend or settings.backups.storage
    if backend == "local":
        return LocalStorage(local_root(settings))
    if backend == "s3":
        return S3Storage(settings.backups)
    raise StorageError(f"unknown backup storage backend {backend!r}")


__all__ = ["LocalStorage", "S3Error", "S3Storage", "Storage", "StorageError", "open_storage"]
