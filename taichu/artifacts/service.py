"""Bundles in the artifact directory: listing them, and opening one for an installation
(resolved strictly inside the directory, every file's size and sha256 verified)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from taichu.artifacts.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    ImageEntry,
    Manifest,
    parse_manifest,
    valid_name,
)
from taichu.config import Settings
from taichu.errors import Invalid, Unavailable

FIELD = "artifact_path"
MAX_BUNDLES = 1000  # bundles one listing shows
MAX_ENTRIES = 10 * MAX_BUNDLES  # directory entries it looks at
CHUNK = 1024 * 1024


def artifacts_dir(settings: Settings) -> Path:
    """The configured artifact directory (`TAICHU_ARTIFACTS__DIR`, else `<data dir>/artifacts`)."""
    return settings.artifacts.dir or (settings.data_dir / "artifacts")


@dataclass(frozen=True)
class Bundle:
    """An opened, verified bundle."""

    root: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.root.name

    def file(self, path: str) -> Path:
        """The local path of a file the manifest lists (KeyError for any other)."""
        self.manifest.file(path)
        return self.root / path

    def image(self, purpose: str) -> ImageEntry:
        for image in self.manifest.images:
            if image.purpose == purpose:
                return image
        have = ", ".join(i.purpose for i in self.manifest.images) or "none"
        raise Invalid(f"{FIELD}: bundle {self.name} has no {purpose} image (it has: {have})")


@dataclass(frozen=True)
class BundleSummary:
    """One entry of the directory: a bundle whose manifest reads and whose files are all
    there with their sizes (`valid`), or what is wrong with it (`problem`)."""

    name: str
    manifest: Manifest | None
    problem: str | None

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def size_bytes(self) -> int | None:
        return self.manifest.size_bytes if self.manifest else None

    @property
    def created_at(self) -> datetime | None:
        return self.manifest.created_at if self.manifest else None


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _read_manifest(root: Path, max_bytes: int) -> Manifest:
    path = root / MANIFEST_NAME
    try:
        # O_NOFOLLOW: the manifest itself may not be a link to somewhere else.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise Invalid(f"{MANIFEST_NAME}: missing") from None
    except OSError as e:
        raise Invalid(f"{MANIFEST_NAME}: cannot be read ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise Invalid(f"{MANIFEST_NAME}: not a regular file")
        data = f.read(max_bytes + 1)
    manifest = parse_manifest(data, max_bytes=max_bytes)
    if manifest.name != root.name:
        raise Invalid(f"{MANIFEST_NAME}: name {manifest.name} differs from the directory's")
    return manifest


def _resolve_file(root: Path, relative: str) -> Path:
    """The file's real path, refused when it (or a link on the way) leads out of the
    bundle or is not a regular file."""
    path = root / relative
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise Invalid(f"{relative}: missing") from None
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise Invalid(f"{relative}: cannot be read ({e})") from None
    if not _inside(real, root):
        raise Invalid(f"{relative}: leads outside the bundle")
    if not real.is_file():
        raise Invalid(f"{relative}: not a regular file")
    return real


def _check_sizes(root: Path, manifest: Manifest) -> None:
    for entry in manifest.files:
        size = _resolve_file(root, entry.path).stat().st_size
        if size != entry.size:
            raise Invalid(f"{entry.path}: {size} bytes, the manifest says {entry.size}")


def _resolve_bundle(directory: Path, name: str) -> Path:
    """`<directory>/<name>`, resolved, refused unless it stays inside the directory."""
    if not valid_name(name):
        raise Invalid(
            f"{FIELD}: {name[:80]!r} is not a bundle name (one path segment of A-Z a-z 0-9 . _ -,"
            " not starting with '.'; absolute paths and '..' are refused)"
        )
    base = directory.resolve()
    root = (base / name).resolve()
    if not _inside(root, base) or root == base:
        raise Invalid(f"{FIELD}: bundle {name} leads outside the artifact directory")
    if not root.is_dir():
        names = [s.name for s in list_bundles(directory) if s.valid]
        have = ", ".join(names[:20]) or "none (make one with `taichu artifact build`)"
        raise Invalid(f"{FIELD}: no bundle {name} in {directory}; bundles there: {have}")
    return root


def list_bundles(
    directory: Path, *, max_manifest_bytes: int = MAX_MANIFEST_BYTES
) -> list[BundleSummary]:
    """Every bundle of the directory by name, broken ones with their problem (checks the
    manifest and each file's presence and size, not the checksums: that is open_bundle's).
    Blocking: call it in a thread from async code."""
    try:
        base = directory.resolve()
        with os.scandir(base) as scan:
            entries = sorted(itertools.islice(scan, MAX_ENTRIES), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise Unavailable(f"artifact directory {directory}: {e.strerror}") from None
    summaries = []
    for entry in entries:
        if not valid_name(entry.name) or not entry.is_dir():
            continue  # temporary build directories, stray files
        if len(summaries) == MAX_BUNDLES:
            break
        root = Path(entry.path).resolve()
        try:
            if not _inside(root, base):
                raise Invalid("leads outside the artifact directory")
            manifest = _read_manifest(root, max_manifest_bytes)
        except Invalid as e:
            summaries.append(BundleSummary(entry.name, None, e.message))
            continue
        try:
            _check_sizes(root, manifest)
        except OSError as e:
            summaries.append(BundleSummary(entry.name, manifest, f"cannot be read ({e.strerror})"))
            continue
        except Invalid as e:
            summaries.append(BundleSummary(entry.name, manifest, e.message))
            continue
        summaries.append(BundleSummary(entry.name, manifest, None))
    return summaries


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(root: Path, manifest: Manifest) -> None:
    for entry in manifest.files:
        real = _resolve_file(root, entry.path)
        try:
            size = real.stat().st_size
            digest = sha256_file(real) if size == entry.size else ""
        except OSError as e:
            raise Invalid(f"{entry.path}: cannot be read ({e.strerror})") from None
        if size != entry.size:
            raise Invalid(f"{entry.path}: {size} bytes, the manifest says {entry.size}")
        if digest != entry.sha256:
            raise Invalid(f"{entry.path}: sha256 differs from the manifest's (changed or damaged)")


def open_bundle_sync(
    directory: Path, name: str, max_manifest_bytes: int = MAX_MANIFEST_BYTES
) -> Bundle:
    """open_bundle for threads and commands (blocking)."""
    root = _resolve_bundle(directory, name)
    try:
        manifest = _read_manifest(root, max_manifest_bytes)
        _verify(root, manifest)
    except Invalid as e:
        raise Invalid(f"{FIELD}: bundle {name}: {e.message}") from None
    return Bundle(root=root, manifest=manifest)


async def open_bundle(
    directory: Path, name: str, *, max_manifest_bytes: int = MAX_MANIFEST_BYTES
) -> Bundle:
    """The bundle `name` of `directory`, verified file by file (in a thread: hashing a
    bundle reads hundreds of MiB); Invalid naming `artifact_path` and what is wrong."""
    return await asyncio.to_thread(open_bundle_sync, directory, name, max_manifest_bytes)
