"""Single-layer OCI image archives (an OCI image layout in a tar), made in Python for
`ctr -n k8s.io images import`: no registry is reachable offline, so the images a node
needs (pause, CoreDNS, busybox) are built from local static binaries.

Deterministic: every mtime is 0, owners are root, entries are sorted and the JSON is
written with sorted keys, so the same inputs give the same archive, byte for byte."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
EPOCH = "1970-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Directories every image has (a container runtime mounts over some of them).
BASE_DIRS = ("dev", "etc", "proc", "root", "sys", "tmp", "var")
BASE_FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
}
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One file of the layer: a copy of `source`, `data`, or a symlink to `link`."""

    path: str  # inside the image, without the leading "/"
    source: Path | None = None
    data: bytes | None = None
    link: str | None = None
    mode: int = 0o755

    def __post_init__(self) -> None:
        pure = PurePosixPath(self.path)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise ValueError(f"image path must be relative without '..': {self.path!r}")
        if sum(x is not None for x in (self.source, self.data, self.link)) != 1:
            raise ValueError(f"{self.path}: exactly one of source, data, link")


@dataclass(frozen=True)
class ImageSpec:
    ref: str  # registry.k8s.io/pause:3.10
    entries: tuple[Entry, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    arch: str = "amd64"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _info(
    name: str, *, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, size: int = 0
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _parents(paths: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for path in paths:
        parts = PurePosixPath(path).parts[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def write_layer(out: io.BufferedIOBase, entries: Sequence[Entry]) -> None:
    """The layer tar: base directories and files, then the entries, sorted by path."""
    files: dict[str, Entry] = {}
    for entry in entries:
        if files.setdefault(entry.path, entry) is not entry:
            raise ValueError(f"image path listed twice: {entry.path}")
    for path, data in BASE_FILES.items():
        files.setdefault(path, Entry(path, data=data, mode=0o644))
    dirs = (_parents(files) | set(BASE_DIRS)) - set(files)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted(dirs):
            tar.addfile(_info(d, kind=tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755))
        for path in sorted(files):
            entry = files[path]
            if entry.link is not None:
                info = _info(path, kind=tarfile.SYMTYPE, mode=0o777)
                info.linkname = entry.link
                tar.addfile(info)
            elif entry.data is not None:
                tar.addfile(
                    _info(path, mode=entry.mode, size=len(entry.data)), io.BytesIO(entry.data)
                )
            else:
                assert entry.source is not None
                with entry.source.open("rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    tar.addfile(_info(path, mode=entry.mode, size=size), f)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def write_image(spec: ImageSpec, out: Path) -> str:
    """Write the archive of `spec` to `out` (through a temporary file beside it); returns
    the image manifest's digest."""
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".oci-") as work:
        layer_path = Path(work) / "layer.tar"
        with layer_path.open("wb") as f:
            write_layer(f, spec.entries)  # type: ignore[arg-type]
        layer_digest = _sha256_of(layer_path)
        layer_size = layer_path.stat().st_size
        image_config: dict[str, object] = {"Env": [PATH_ENV], "WorkingDir": "/"}
        if spec.entrypoint:
            image_config["Entrypoint"] = list(spec.entrypoint)
        if spec.cmd:
            image_config["Cmd"] = list(spec.cmd)
        config = _json(
            {
                "architecture": spec.arch,
                "os": "linux",
                "created": EPOCH,
                "config": image_config,
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
                "history": [{"created": EPOCH, "created_by": "taichu artifact build"}],
            }
        )
        manifest = _json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": {
                    "mediaType": MEDIA_CONFIG,
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [{"mediaType": MEDIA_LAYER, "digest": layer_digest, "size": layer_size}],
            }
        )
        tag = spec.ref.rsplit(":", 1)[-1] if ":" in spec.ref.rsplit("/", 1)[-1] else "latest"
        index = _json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_INDEX,
                "manifests": [
                    {
                        "mediaType": MEDIA_MANIFEST,
                        "digest": _digest(manifest),
                        "size": len(manifest),
                        "annotations": {CONTAINERD_NAME: spec.ref, REF_NAME: tag},
                        "platform": {"architecture": spec.arch, "os": "linux"},
                    }
                ],
            }
        )
        partial = Path(work) / "image.tar"
        with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as tar:
            blobs = {
                layer_digest: layer_path,
                _digest(config): config,
                _digest(manifest): manifest,
            }
            tar.addfile(_info("blobs", kind=tarfile.DIRTYPE, mode=0o755))
            tar.addfile(_info("blobs/sha256", kind=tarfile.DIRTYPE, mode=0o755))
            for digest in sorted(blobs):
                blob = blobs[digest]
                name = "blobs/sha256/" + digest.removeprefix("sha256:")
                if isinstance(blob, Path):
                    with blob.open("rb") as f:
                        tar.addfile(_info(name, size=layer_size), f)
                else:
                    tar.addfile(_info(name, size=len(blob)), io.BytesIO(blob))
            tar.addfile(_info("index.json", size=len(index)), io.BytesIO(index))
            layout = _json({"imageLayoutVersion": "1.0.0"})
            tar.addfile(_info("oci-layout", size=len(layout)), io.BytesIO(layout))
        os.replace(partial, out)
        return _digest(manifest)


def busybox_entries(busybox: Path, applets: Iterable[str]) -> tuple[Entry, ...]:
    """busybox at /bin/busybox and a /bin/<applet> symlink to it for each applet."""
    links = sorted({a for a in applets if a and a != "busybox" and "/" not in a})
    return (
        Entry("bin/busybox", source=busybox),
        *(Entry(f"bin/{a}", link="/bin/busybox") for a in links),
    )
