"""Verifying an archive end to end, then reading its parts (format: `archive`).

`Verifier` is fed the archive's bytes in order (from a file or a download) and checks
everything a restore relies on before any object is applied: the header and its wrapped
key, every chunk's authentication tag and order, every part's SHA-256 and object count
against the manifest, and the HMAC over the whole file. What it returns says where each
part's chunks are, so the restore reads parts in its own order from the verified file."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from taichu.backups import archive
from taichu.backups.archive import (
    DATA,
    END_MAGIC,
    FRAME_HEADER_SIZE,
    MANIFEST,
    MANIFEST_PART,
    MAX_FRAME,
    PREFIX_SIZE,
    TRAILER_SIZE,
    ArchiveError,
    Header,
)

_COMPACT_AT = 4 << 20


@dataclass
class _Part:
    frames: list[tuple[int, int]] = field(default_factory=list)  # (offset, frame length)
    count: int = 0
    closed: bool = False
    hash: Any = field(default_factory=hashlib.sha256)


@dataclass
class VerifiedArchive:
    header: Header
    manifest: dict[str, Any]
    index: dict[int, list[tuple[int, int]]]
    data_key: bytes
    size: int
    sha256: str

    @property
    def parts(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("parts") or [])

    def objects(self, handle: BinaryIO, part: int) -> Iterator[dict[str, Any]]:
        """The objects of one part, one chunk in memory at a time. The chunks were
        verified, but they are authenticated again as they are read: the file may have
        changed since."""
        aead = AESGCM(self.data_key)
        digest = self.header.digest
        for offset, length in self.index.get(part, []):
            frame = archive.read_exact(handle, offset, length)
            plaintext = archive.open_chunk(
                aead, digest, frame[:FRAME_HEADER_SIZE], frame[FRAME_HEADER_SIZE:], f"byte {offset}"
            )
            for line in archive.iter_lines(plaintext):
                yield json.loads(line)


class Verifier:
    def __init__(self, kek: bytes) -> None:
        self._kek = kek
        self._buffer = bytearray()
        self._pos = 0  # read position in the buffer
        self._offset = 0  # file offset of buffer[0]
        self._state = "prefix"
        self._header: Header | None = None
        self._aead: AESGCM | None = None
        self._data_key = b""
        self._mac: Any = None
        self._sha = hashlib.sha256()
        self._parts: dict[int, _Part] = {}
        self._manifest = bytearray()
        self._manifest_seq = 0

    @property
    def position(self) -> int:
        return self._offset + self._pos

    def feed(self, data: bytes) -> None:
        self._sha.update(data)
        self._buffer += data
        while self._step():
            pass
        if self._state == "done" and self._available():
            raise ArchiveError(
                f"backup archive has unexpected bytes after its end (at byte {self.position})"
            )
        if self._pos > _COMPACT_AT:
            del self._buffer[: self._pos]
            self._offset += self._pos
            self._pos = 0

    def _available(self) -> int:
        return len(self._buffer) - self._pos

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[self._pos : self._pos + size])
        self._pos += size
        if self._mac is not None and self._state != "trailer":
            self._mac.update(data)
        return data

    def _step(self) -> bool:
        if self._state == "prefix":
            if self._available() < PREFIX_SIZE:
                return False
            length = archive.parse_header_prefix(bytes(self._buffer[:PREFIX_SIZE]))
            if self._available() < PREFIX_SIZE + length:
                return False
            self._header = archive.parse_header(self._take(PREFIX_SIZE + length))
            self._data_key = archive.unwrap_key(self._header, self._kek)
            self._aead = AESGCM(self._data_key)
            self._mac = archive.new_mac(self._data_key)
            self._mac.update(self._header.raw)
            self._state = "frames"
            return True
        if self._state == "frames":
            if self._available() < 1:
                return False
            if self._buffer[self._pos] == END_MAGIC[0]:
                raise ArchiveError(
                    f"backup archive ends at byte {self.position} before its "
                    "manifest: it is incomplete"
                )
            if self._available() < FRAME_HEADER_SIZE:
                return False
            frame_header = bytes(self._buffer[self._pos : self._pos + FRAME_HEADER_SIZE])
            kind, _, _, _, length = archive.frame_fields(frame_header)
            if kind not in (DATA, MANIFEST) or length > MAX_FRAME:
                raise ArchiveError(
                    f"backup archive is corrupted at byte {self.position} (not a chunk header)"
                )
            if self._available() < FRAME_HEADER_SIZE + length:
                return False
            offset = self.position
            frame = self._take(FRAME_HEADER_SIZE + length)
            self._frame(offset, frame)
            return True
        if self._state == "trailer":
            if self._available() < TRAILER_SIZE:
                return False
            end = self._take(TRAILER_SIZE)
            expected = archive.trailer(self._mac)
            if end[: len(END_MAGIC)] != END_MAGIC:
                raise ArchiveError(
                    f"backup archive is corrupted at byte {self.position - 40}"
                    " (no end marker after the manifest)"
                )
            if not hmac.compare_digest(end, expected):
                raise ArchiveError(
                    "backup archive checksum (HMAC) does not match: the file was modified"
                )
            self._state = "done"
            return False
        return False

    def _frame(self, offset: int, frame: bytes) -> None:
        assert self._aead is not None and self._header is not None
        head, body = frame[:FRAME_HEADER_SIZE], frame[FRAME_HEADER_SIZE:]
        kind, part_no, seq, last, _ = archive.frame_fields(head)
        where = f"byte {offset} (part {part_no}, chunk {seq})"
        plaintext = archive.open_chunk(self._aead, self._header.digest, head, body, where)
        if kind == MANIFEST:
            if part_no != MANIFEST_PART or seq != self._manifest_seq:
                raise ArchiveError(f"backup archive manifest is out of order at {where}")
            self._manifest_seq += 1
            self._manifest += plaintext
            if last:
                self._state = "trailer"
            return
        part = self._parts.setdefault(part_no, _Part())
        if part.closed or seq != len(part.frames):
            raise ArchiveError(f"backup archive chunk out of order or repeated at {where}")
        part.frames.append((offset, len(frame)))
        part.hash.update(frame)
        part.count += plaintext.count(b"\n")
        part.closed = last

    def finish(self) -> VerifiedArchive:
        if self._state != "done":
            raise ArchiveError(
                f"backup archive is truncated: it ends at byte {self.position}"
                " before its end marker"
            )
        assert self._header is not None
        try:
            manifest = json.loads(self._manifest)
        except ValueError as e:
            raise ArchiveError("backup archive manifest is not readable") from e
        listed = {int(p["index"]): p for p in manifest.get("parts") or []}
        for number, info in listed.items():
            seen = self._parts.get(number)
            if seen is None or not seen.closed:
                raise ArchiveError(
                    f"backup archive lacks (part of) part {number} "
                    f"({info.get('resource')} in {info.get('namespace')})"
                )
            if seen.hash.hexdigest() != info.get("sha256") or seen.count != info.get("count"):
                raise ArchiveError(
                    f"backup archive part {number} does not match its "
                    "checksum or object count in the manifest"
                )
        extra = set(self._parts) - set(listed)
        if extra:
            raise ArchiveError(
                f"backup archive holds parts its manifest does not list: {sorted(extra)[:5]}"
            )
        return VerifiedArchive(
            header=self._header,
            manifest=manifest,
            index={n: p.frames for n, p in self._parts.items()},
            data_key=self._data_key,
            size=self.position,
            sha256=self._sha.hexdigest(),
        )
