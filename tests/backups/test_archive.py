"""The archive format: what is written reads back; any change, cut, reordering or foreign
key is refused with a message that says what is wrong. And both storage backends make an
archive visible only when complete."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from taichu.backups import archive
from taichu.backups.archive import FRAME_HEADER_SIZE, PREFIX_SIZE, ArchiveError
from taichu.backups.reader import VerifiedArchive, Verifier
from taichu.backups.storage import LocalStorage, S3Storage
from taichu.backups.writer import ArchiveWriter
from taichu.config import BackupSettings
from tests.backups.conftest import s3_settings
from tests.backups.minio import Minio

KEK = os.urandom(32)


class Buffer:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data


def _obj(kind: str, ns: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": f"{kind.lower()}-{i}", "namespace": ns},
        "data": {"value": os.urandom(40).hex(), "i": str(i)},
    }


async def _write(chunk: int = 1024) -> tuple[bytes, dict[tuple[str, str], list[Any]]]:
    """An archive with parts written interleaved, as concurrent listings write them."""
    sink = Buffer()
    writer = ArchiveWriter(
        sink, backup_id="b-1", cluster_id="c-1", created_at="t", kek=KEK, chunk_size=chunk
    )
    await writer.start()
    expected: dict[tuple[str, str], list[Any]] = {}
    parts = {
        (kind, ns): writer.part(
            {
                "group": "",
                "version": "v1",
                "resource": kind,
                "kind": kind,
                "namespace": ns,
                "namespaced": True,
            }
        )
        for kind in ("ConfigMap", "Secret")
        for ns in ("a", "b")
    }
    for i in range(60):
        for (kind, ns), part in parts.items():
            obj = _obj(kind, ns, i)
            expected.setdefault((kind, ns), []).append(obj)
            await part.add(json.dumps(obj).encode())
    for part in parts.values():
        await part.close()
    size, _ = await writer.finish({"hello": "manifest"})
    assert size == len(sink.data)
    return bytes(sink.data), expected


def _verify(data: bytes, kek: bytes = KEK, block: int = 777) -> VerifiedArchive:
    verifier = Verifier(kek)
    for i in range(0, len(data), block):
        verifier.feed(data[i : i + block])
    return verifier.finish()


async def test_archive_reads_back_what_was_written(tmp_path: Path) -> None:
    data, expected = await _write()
    verified = _verify(data)
    assert verified.manifest["hello"] == "manifest"
    assert verified.size == len(data)
    path = tmp_path / "a.tbk"
    path.write_bytes(data)
    with path.open("rb") as handle:
        for part in verified.parts:
            objects = list(verified.objects(handle, part["index"]))
            assert objects == expected[(part["kind"], part["namespace"])]
            assert part["count"] == 60 and part["chunks"] > 1
    assert b"ConfigMap" not in data  # encrypted, not merely compressed


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every frame."""
    length = archive.parse_header_prefix(data[:PREFIX_SIZE])
    offset, frames = PREFIX_SIZE + length, []
    while data[offset : offset + 8] != archive.END_MAGIC:
        size = (
            FRAME_HEADER_SIZE + archive.frame_fields(data[offset : offset + FRAME_HEADER_SIZE])[4]
        )
        frames.append((offset, size))
        offset += size
    return frames


@pytest.mark.parametrize(
    "where", ["magic", "header", "frame-header", "chunk", "manifest", "trailer-mac"]
)
async def test_any_changed_byte_is_refused(where: str) -> None:
    data, _ = await _write()
    frames = _frames(data)
    position = {
        "magic": 0,
        "header": PREFIX_SIZE + 20,
        "frame-header": frames[3][0] + 2,
        "chunk": frames[5][0] + FRAME_HEADER_SIZE + 10,
        "manifest": frames[-1][0] + 30,
        "trailer-mac": len(data) - 5,
    }[where]
    damaged = data[:position] + bytes([data[position] ^ 0x40]) + data[position + 1 :]
    with pytest.raises(ArchiveError) as caught:
        _verify(damaged)
    assert any(
        w in caught.value.message
        for w in (
            "modified",
            "corrupted",
            "not a Taichu backup",
            "another installation",
            "out of order",
        )
    ), caught.value.message


@pytest.mark.parametrize("keep", [0, 5, PREFIX_SIZE + 3, 0.5, -41, -1])
async def test_a_truncated_archive_is_refused(keep: float) -> None:
    data, _ = await _write()
    cut = (
        int(len(data) * keep)
        if isinstance(keep, float)
        else (len(data) + keep if keep < 0 else keep)
    )
    with pytest.raises(ArchiveError) as caught:
        _verify(data[:cut])
    assert "truncated" in caught.value.message or "incomplete" in caught.value.message


async def test_reordered_or_repeated_chunks_and_extra_bytes_are_refused() -> None:
    data, _ = await _write()
    frames = _frames(data)
    (a, la), (b, lb) = frames[0], frames[4]  # two chunks of the same part
    assert data[a + 1 : a + 5] == data[b + 1 : b + 5]
    swapped = data[:a] + data[b : b + lb] + data[a + la : b] + data[a : a + la] + data[b + lb :]
    with pytest.raises(ArchiveError):
        _verify(swapped)
    repeated = data[:b] + data[a : a + la] + data[b:]
    with pytest.raises(ArchiveError):
        _verify(repeated)
    with pytest.raises(ArchiveError, match="after its end"):
        _verify(data + b"\x00")


async def test_an_archive_of_another_installation_is_refused() -> None:
    data, _ = await _write()
    with pytest.raises(ArchiveError, match="another installation"):
        _verify(data, kek=os.urandom(32))


async def test_local_storage_shows_only_complete_archives(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = storage.key_for("c", "b")
    upload = await storage.upload(key)
    await upload.write(b"half")
    assert not await storage.exists(key)
    await upload.abort()
    assert not any(p.is_file() for p in (tmp_path / "c").iterdir())
    upload = await storage.upload(key)
    await upload.write(b"whole")
    await upload.commit()
    assert b"".join([d async for d in storage.read(key)]) == b"whole"
    assert oct((tmp_path / key).stat().st_mode)[-3:] == "600"
    await storage.delete(key)
    assert not tmp_path.joinpath("c").exists()


async def test_s3_storage_aborts_multipart_uploads_and_deletes(minio: Minio) -> None:
    settings: BackupSettings = await s3_settings(minio)
    storage = S3Storage(settings)
    try:
        key = storage.key_for("c", "b")
        upload = await storage.upload(key)
        await upload.write(os.urandom(6 << 20))  # one part sent: a multipart upload
        assert await storage.client.list_multipart(storage.bucket, key)
        await upload.abort()
        assert await storage.client.list_multipart(storage.bucket, key) == []
        assert not await storage.exists(key)

        upload = await storage.upload(key)
        payload = os.urandom(11 << 20)
        for i in range(0, len(payload), 1 << 20):
            await upload.write(payload[i : i + (1 << 20)])
        await upload.commit()
        assert b"".join([d async for d in storage.read(key)]) == payload
        # An upload a dead process left behind goes with the archive.
        await storage.client.create_multipart(storage.bucket, key)
        await storage.delete(key)
        assert not await storage.exists(key)
        assert await storage.client.list_multipart(storage.bucket, key) == []
    finally:
        await storage.close()
