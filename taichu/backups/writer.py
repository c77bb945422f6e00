"""Writing an archive as a stream (format: `taichu.backups.archive`).

Memory is bounded by one chunk per open part plus the storage's buffer, whatever the
number of objects: objects are added as they are listed and leave as sealed chunks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from taichu.backups import archive
from taichu.backups.archive import DATA, MANIFEST, MANIFEST_PART, PartInfo, Sink


class ArchiveWriter:
    def __init__(
        self,
        sink: Sink,
        *,
        backup_id: str,
        cluster_id: str,
        created_at: str,
        kek: bytes,
        chunk_size: int,
    ) -> None:
        self.sink = sink
        self.chunk_size = chunk_size
        data_key = os.urandom(32)
        self._aead = AESGCM(data_key)
        self.header = archive.make_header(
            backup_id, cluster_id, created_at, kek, data_key, chunk_size
        )
        self._digest = self.header.digest
        self._mac = archive.new_mac(data_key)
        self._sha = hashlib.sha256()
        self.size = 0
        self.parts: list[PartInfo] = []
        # Frames of concurrently written parts go out whole and in the order they are
        # hashed: one writer at a time.
        self._lock = asyncio.Lock()
        self._started = False

    async def _emit(self, data: bytes, part: PartInfo | None = None, *, mac: bool = True) -> None:
        async with self._lock:
            if mac:
                self._mac.update(data)
            self._sha.update(data)
            self.size += len(data)
            if part is not None:
                part.hasher.update(data)
                part.bytes += len(data)
            await self.sink.write(data)

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self._emit(self.header.raw)

    def part(self, meta: dict[str, Any]) -> PartWriter:
        info = PartInfo(index=len(self.parts) + 1, meta=meta, hasher=hashlib.sha256())
        self.parts.append(info)
        return PartWriter(self, info)

    async def _seal(self, kind: int, part: int, seq: int, last: bool, plaintext: bytes) -> bytes:
        # zlib and AES-GCM release the GIL: sealing in a thread overlaps it with parsing
        # the next page of the listing on the event loop.
        return await asyncio.to_thread(
            archive.seal_chunk, self._aead, self._digest, kind, part, seq, last, plaintext
        )

    async def finish(self, manifest: dict[str, Any]) -> tuple[int, str]:
        """Write the manifest and the trailer; returns (size, SHA-256 of the file)."""
        manifest = {**manifest, "parts": [p.to_manifest() for p in self.parts]}
        body = json.dumps(manifest, separators=(",", ":")).encode()
        pieces = [body[i : i + self.chunk_size] for i in range(0, len(body), self.chunk_size)]
        for seq, piece in enumerate(pieces):
            frame = await self._seal(MANIFEST, MANIFEST_PART, seq, seq == len(pieces) - 1, piece)
            await self._emit(frame)
        await self._emit(archive.trailer(self._mac), mac=False)
        return self.size, self._sha.hexdigest()


class PartWriter:
    """The objects of one resource type in one namespace."""

    def __init__(self, writer: ArchiveWriter, info: PartInfo) -> None:
        self.writer = writer
        self.info = info
        self._buffer = bytearray()
        self._seq = 0
        self.closed = False

    async def add(self, line: bytes) -> None:
        """One object, as a single line of JSON (no newline)."""
        self._buffer += line
        self._buffer += b"\n"
        self.info.count += 1
        if len(self._buffer) >= self.writer.chunk_size:
            await self._flush(last=False)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._flush(last=True)
            self.info.sha256 = self.info.hasher.hexdigest()

    async def _flush(self, last: bool) -> None:
        plaintext = bytes(self._buffer)
        self._buffer.clear()
        frame = await self.writer._seal(DATA, self.info.index, self._seq, last, plaintext)
        self._seq += 1
        self.info.chunks += 1
        await self.writer._emit(frame, self.info)
