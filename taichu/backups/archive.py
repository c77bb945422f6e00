"""The backup archive: one file, written as a stream, encrypted and authenticated.

Layout (all integers big-endian):

    header   "TAICHUBK" | u16 version | u32 length | header JSON
    frame*   u8 kind | u32 part | u32 seq | u8 last | u32 length | ciphertext
    trailer  "TAICHUEN" | HMAC-SHA256 of every byte before the trailer

A *part* holds the objects of one resource type in one namespace (cluster-scoped types
have one part), as zlib-compressed JSON lines cut into chunks at object boundaries; each
chunk is one frame. Parts of different types may interleave (types are listed
concurrently); a reader finds a part's frames through the index `verify` builds. The
manifest is the last part (kind 2): cluster, version, time, options, counts per resource
type, and each part's object count, chunk count and SHA-256 (over its frames as stored).

Encryption: every archive has its own random 256-bit data key, wrapped (AES-GCM) with a
key-encryption key derived from the installation's master secret and kept in the header.
Chunks are AES-256-GCM with a nonce made of (part, seq, kind, last) — unique per chunk
under a key used for one archive only — and the header's digest plus the frame header as
associated data, so a chunk cannot be altered, moved to another part or position, or a
part cut short (the last chunk says so) without failing authentication. The trailer's
HMAC covers the whole file, so truncation and any change are found before a restore
starts. A restore verifies everything (HMAC, every chunk, every part's hash and count)
before it touches a cluster.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from taichu.errors import TaichuError

MAGIC = b"TAICHUBK"
END_MAGIC = b"TAICHUEN"
VERSION = 1
DATA, MANIFEST = 1, 2
MANIFEST_PART = 0
_PREFIX = struct.Struct(">8sHI")
_FRAME = struct.Struct(">BIIBI")
_NONCE = struct.Struct(">IIBBH")
TRAILER_SIZE = len(END_MAGIC) + 32
MAX_HEADER = 1 << 20
MAX_FRAME = 256 << 20  # a single object may be large; anything bigger is garbage
COMPRESSION_LEVEL = 1  # JSON shrinks ~5x even at level 1; higher levels cost CPU, not space


class ArchiveError(TaichuError):
    """The archive is not usable: corrupted, truncated, tampered with, or not ours."""

    status = 422


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...


def key_id(kek: bytes) -> str:
    """Names the key-encryption key without revealing it (tells "other installation")."""
    return hashlib.sha256(b"taichu-backup-kek-id|" + kek).hexdigest()[:16]


def _mac_key(data_key: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"taichu-backup", info=b"archive-hmac"
    ).derive(data_key)


def _wrap_aad(backup_id: str) -> bytes:
    return b"taichu-backup-key|" + backup_id.encode()


def _nonce(kind: int, part: int, seq: int, last: bool) -> bytes:
    return _NONCE.pack(part, seq, kind, 1 if last else 0, 0)


def seal_chunk(
    aead: AESGCM, header_digest: bytes, kind: int, part: int, seq: int, last: bool, plaintext: bytes
) -> bytes:
    """One frame (header and ciphertext). CPU-bound; callers may run it in a thread."""
    payload = zlib.compress(plaintext, COMPRESSION_LEVEL)
    # The frame header's length field is the ciphertext's: compressed payload + 16-byte tag.
    frame_header = _FRAME.pack(kind, part, seq, 1 if last else 0, len(payload) + 16)
    ciphertext = aead.encrypt(_nonce(kind, part, seq, last), payload, header_digest + frame_header)
    return frame_header + ciphertext


@dataclass
class PartInfo:
    """What the manifest says about one part."""

    index: int
    meta: dict[str, Any]
    count: int = 0
    chunks: int = 0
    bytes: int = 0
    sha256: str = ""
    hasher: Any = field(default=None, repr=False)  # SHA-256 of the part's frames so far

    def to_manifest(self) -> dict[str, Any]:
        return {
            **self.meta,
            "index": self.index,
            "count": self.count,
            "chunks": self.chunks,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


@dataclass
class Header:
    raw: bytes
    fields: dict[str, Any]

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


def make_header(
    backup_id: str, cluster_id: str, created_at: str, kek: bytes, data_key: bytes, chunk_size: int
) -> Header:
    wrap_nonce = os.urandom(12)
    wrapped = AESGCM(kek).encrypt(wrap_nonce, data_key, _wrap_aad(backup_id))
    fields = {
        "format": VERSION,
        "backup_id": backup_id,
        "cluster_id": cluster_id,
        "created_at": created_at,
        "cipher": "AES-256-GCM",
        "compression": "zlib",
        "chunk_size": chunk_size,
        "key_id": key_id(kek),
        "wrapped_key": base64.b64encode(wrapped).decode(),
        "wrap_nonce": base64.b64encode(wrap_nonce).decode(),
    }
    body = json.dumps(fields, sort_keys=True).encode()
    return Header(_PREFIX.pack(MAGIC, VERSION, len(body)) + body, fields)


def unwrap_key(header: Header, kek: bytes) -> bytes:
    fields = header.fields
    if fields.get("key_id") != key_id(kek):
        raise ArchiveError(
            "backup archive was encrypted by another installation (its key id "
            f"{fields.get('key_id')} is not this installation's): restore it with the "
            "TAICHU_SECRET_KEY that wrote it"
        )
    try:
        return AESGCM(kek).decrypt(
            base64.b64decode(fields["wrap_nonce"]),
            base64.b64decode(fields["wrapped_key"]),
            _wrap_aad(str(fields.get("backup_id", ""))),
        )
    except (InvalidTag, KeyError, ValueError, TypeError) as e:
        raise ArchiveError(
            "backup archive key cannot be unwrapped: the archive header was modified or corrupted"
        ) from e


def parse_header_prefix(data: bytes) -> int:
    """Length of the header JSON, after checking magic and version."""
    magic, version, length = _PREFIX.unpack(data[: _PREFIX.size])
    if magic != MAGIC:
        raise ArchiveError("not a Taichu backup archive (wrong magic bytes)")
    if version != VERSION:
        raise ArchiveError(
            f"backup archive format {version} is not supported (this "
            f"version reads format {VERSION})"
        )
    if length > MAX_HEADER:
        raise ArchiveError("backup archive header is implausibly large: corrupted")
    return length


def parse_header(prefix_and_body: bytes) -> Header:
    length = parse_header_prefix(prefix_and_body)
    raw = prefix_and_body[: _PREFIX.size + length]
    try:
        fields = json.loads(raw[_PREFIX.size :])
    except ValueError as e:
        raise ArchiveError("backup archive header is not readable: corrupted") from e
    if not isinstance(fields, dict):
        raise ArchiveError("backup archive header is not readable: corrupted")
    return Header(raw, fields)


def open_chunk(
    aead: AESGCM, header_digest: bytes, frame_header: bytes, ciphertext: bytes, where: str
) -> bytes:
    kind, part, seq, last, _ = _FRAME.unpack(frame_header)
    try:
        payload = aead.decrypt(
            _nonce(kind, part, seq, bool(last)), ciphertext, header_digest + frame_header
        )
    except InvalidTag as e:
        raise ArchiveError(
            f"backup archive failed authentication at {where}: it was modified or corrupted"
        ) from e
    try:
        return zlib.decompress(payload)
    except zlib.error as e:
        raise ArchiveError(f"backup archive chunk at {where} does not decompress") from e


def frame_fields(frame_header: bytes) -> tuple[int, int, int, bool, int]:
    kind, part, seq, last, length = _FRAME.unpack(frame_header)
    return kind, part, seq, bool(last), length


FRAME_HEADER_SIZE = _FRAME.size
PREFIX_SIZE = _PREFIX.size


def trailer(mac: Any) -> bytes:
    return END_MAGIC + mac.digest()


def new_mac(data_key: bytes) -> Any:
    return hmac.new(_mac_key(data_key), digestmod=hashlib.sha256)


def iter_lines(plaintext: bytes) -> Iterator[bytes]:
    start = 0
    while True:
        end = plaintext.find(b"\n", start)
        if end < 0:
            if start < len(plaintext):
                yield plaintext[start:]
            return
        yield plaintext[start:end]
        start = end + 1


def read_exact(handle: BinaryIO, offset: int, size: int) -> bytes:
    handle.seek(offset)
    data = handle.read(size)
    if len(data) != size:
        raise ArchiveError(f"backup archive is truncated at byte {offset + len(data)}")
    return data
