"""OCI image archives read back as an image layout: index -> manifest -> config and
layer, every digest the sha256 of its blob; rebuilding gives the same bytes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from taichu.artifacts import oci


def blobs_of(archive: Path) -> tuple[dict[str, bytes], list[tarfile.TarInfo]]:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        files = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}  # type: ignore[union-attr]
    return files, members


def follow(files: dict[str, bytes], descriptor: dict[str, Any]) -> bytes:
    algorithm, hexdigest = descriptor["digest"].split(":")
    blob = files[f"blobs/{algorithm}/{hexdigest}"]
    assert hashlib.sha256(blob).hexdigest() == hexdigest
    assert len(blob) == descriptor["size"]
    return blob


@pytest.fixture
def busybox_image(tmp_path: Path) -> tuple[Path, str]:
    binary = tmp_path / "busybox"
    binary.write_bytes(b"\x7fELF pretend busybox" * 100)
    spec = oci.ImageSpec(
        ref="docker.io/library/busybox:1.35",
        entries=oci.busybox_entries(binary, ["sh", "ls", "busybox", "nslookup", "a/b", ""]),
        cmd=("sh",),
    )
    out = tmp_path / "busybox.tar"
    return out, oci.write_image(spec, out)


def test_the_archive_is_an_oci_layout_whose_digests_match(busybox_image: tuple[Path, str]) -> None:
    out, digest = busybox_image
    files, members = blobs_of(out)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2 and index["mediaType"] == oci.MEDIA_INDEX
    (entry,) = index["manifests"]
    assert entry["digest"] == digest
    assert entry["annotations"] == {
        "io.containerd.image.name": "docker.io/library/busybox:1.35",
        "org.opencontainers.image.ref.name": "1.35",
    }
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    manifest = json.loads(follow(files, entry))
    assert manifest["mediaType"] == oci.MEDIA_MANIFEST
    config = json.loads(follow(files, manifest["config"]))
    (layer_descriptor,) = manifest["layers"]
    assert layer_descriptor["mediaType"] == oci.MEDIA_LAYER  # uncompressed: diff_id = digest
    layer = follow(files, layer_descriptor)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer_descriptor["digest"]]}
    assert config["config"]["Cmd"] == ["sh"] and "Entrypoint" not in config["config"]
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    # Nothing in the outer archive but the layout.
    assert {m.name for m in members if m.isfile()} == {
        "oci-layout",
        "index.json",
        *(f"blobs/sha256/{d['digest'][7:]}" for d in [entry, manifest["config"], layer_descriptor]),
    }

    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        inside = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile(inside["bin/busybox"]).read().startswith(b"\x7fELF")  # type: ignore[union-attr]
    assert inside["bin/busybox"].mode == 0o755
    for applet in ("sh", "ls", "nslookup"):
        assert (
            inside[f"bin/{applet}"].issym() and inside[f"bin/{applet}"].linkname == "/bin/busybox"
        )
    assert "bin/a/b" not in inside and "bin/" not in inside
    assert inside["tmp"].isdir() and inside["tmp"].mode == 0o1777
    assert inside["etc/passwd"].isfile() and inside["bin"].isdir()
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in inside.values())


def test_rebuilding_gives_the_same_bytes(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(b"pause binary")
    spec = oci.ImageSpec(
        ref="registry.k8s.io/pause:3.10",
        entries=(oci.Entry("pause", source=binary),),
        entrypoint=("/pause",),
    )
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    digest = oci.write_image(spec, first)
    assert oci.write_image(spec, second) == digest
    assert first.read_bytes() == second.read_bytes()
    files, _ = blobs_of(first)
    index = json.loads(files["index.json"])
    config_descriptor = json.loads(follow(files, index["manifests"][0]))["config"]
    assert json.loads(follow(files, config_descriptor))["config"]["Entrypoint"] == ["/pause"]
    # No temporary files left beside the archives.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "b.tar", "pause"]
    binary.write_bytes(b"pause binary, changed")
    assert oci.write_image(spec, tmp_path / "c.tar") != digest


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../../b", ""])
def test_entries_stay_inside_the_image(path: str) -> None:
    with pytest.raises(ValueError):
        oci.Entry(path, data=b"x")


def test_an_entry_is_one_kind_and_listed_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        oci.Entry("x", data=b"x", link="/y")
    spec = oci.ImageSpec(ref="x:1", entries=(oci.Entry("x", data=b"1"), oci.Entry("x", data=b"2")))
    with pytest.raises(ValueError, match="twice"):
        oci.write_image(spec, tmp_path / "x.tar")
