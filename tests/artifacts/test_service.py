"""Opening a bundle: strictly inside the artifact directory, every file's size and
sha256 checked (in a thread), Invalid naming `artifact_path` and the bad file otherwise;
listing reports broken bundles instead of failing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from taichu.artifacts import service
from taichu.artifacts.build import build
from taichu.artifacts.service import list_bundles, open_bundle
from taichu.errors import Invalid
from tests.artifacts.sources import make_sources

NAME = "k8s-v1.36.3-amd64"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("built")
    build(make_sources(root / "src"), root / "artifacts")
    return root / "artifacts" / NAME


@pytest.fixture
def dest(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built bundle for a test to damage."""
    dest = tmp_path / "artifacts"
    dest.mkdir()
    os.system(f"cp -a {built} {dest}/")  # noqa: S605 (paths of our own)
    return dest


async def refused(dest: Path, name: str = NAME) -> str:
    with pytest.raises(Invalid) as caught:
        await open_bundle(dest, name)
    assert caught.value.status == 422
    message = caught.value.message
    assert message.startswith("artifact_path: "), message
    return message


async def test_one_changed_byte_is_found_and_named(dest: Path) -> None:
    await open_bundle(dest, NAME)
    target = dest / NAME / "bin/kube-apiserver"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    message = await refused(dest)
    assert "bin/kube-apiserver" in message and "sha256" in message


async def test_a_changed_image_is_found_too(dest: Path) -> None:
    target = dest / NAME / "images/coredns.tar"
    with target.open("r+b") as f:
        f.seek(600)
        byte = f.read(1)
        f.seek(600)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert "images/coredns.tar" in await refused(dest)


async def test_missing_or_resized_files_are_named(dest: Path) -> None:
    with (dest / NAME / "cni/portmap").open("ab") as f:
        f.write(b"\n")
    message = await refused(dest)
    assert "cni/portmap" in message and "bytes" in message
    (dest / NAME / "cni/portmap").unlink()
    assert "cni/portmap: missing" in await refused(dest)


async def test_a_file_linked_outside_the_bundle_is_refused(dest: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.write_bytes((dest / NAME / "bin/kubelet").read_bytes())  # even the same bytes
    (dest / NAME / "bin/kubelet").unlink()
    (dest / NAME / "bin/kubelet").symlink_to(outside)
    assert "bin/kubelet: leads outside the bundle" in await refused(dest)


@pytest.mark.parametrize(
    "name", ["../artifacts", "/etc", "a/b", "..", ".", "", ".hidden", "x" * 200]
)
async def test_names_that_are_not_one_plain_segment_are_refused(dest: Path, name: str) -> None:
    assert "is not a bundle name" in await refused(dest, name)


async def test_a_bundle_linked_outside_the_directory_is_refused(dest: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (dest / NAME).rename(outside)
    (dest / NAME).symlink_to(outside)
    assert "leads outside the artifact directory" in await refused(dest)
    (listed,) = list_bundles(dest)
    assert not listed.valid and "outside" in (listed.problem or "")


async def test_a_missing_bundle_names_the_ones_there(dest: Path) -> None:
    message = await refused(dest, "k8s-v9.9.9-amd64")
    assert "no bundle k8s-v9.9.9-amd64" in message and f"bundles there: {NAME}" in message
    empty = dest.parent / "empty"
    assert "none (make one with `taichu artifact build`)" in await refused(empty, "x")


async def test_the_manifest_is_checked_and_its_problem_named(dest: Path) -> None:
    path = dest / NAME / "manifest.json"
    data = json.loads(path.read_bytes())
    path.write_text(json.dumps({**data, "format": 2}))
    assert "manifest.json: format 2 is not supported" in await refused(dest)
    path.write_text(json.dumps({**data, "name": "other"}))
    assert "differs from the directory" in await refused(dest)
    path.write_bytes(b" " * (1024 * 1024 + 10))
    assert "larger than" in await refused(dest)
    path.unlink()
    assert "manifest.json: missing" in await refused(dest)


async def test_a_bigger_manifest_limit_is_honoured(dest: Path) -> None:
    path = dest / NAME / "manifest.json"
    path.write_bytes(path.read_bytes() + b" " * 8000)
    with pytest.raises(Invalid, match="larger than 4096"):
        await open_bundle(dest, NAME, max_manifest_bytes=4096)
    await open_bundle(dest, NAME, max_manifest_bytes=16384)


async def test_hashing_runs_in_a_thread_not_on_the_loop(
    dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[int] = set()
    hashed: list[Path] = []
    real = service.sha256_file

    def recording(path: Path) -> str:
        threads.add(threading.get_ident())
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(service, "sha256_file", recording)
    bundle = await open_bundle(dest, NAME)
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert len(hashed) == len(bundle.manifest.files) == 22  # 15 bin, 4 cni, 3 images


async def test_the_list_skips_nothing_and_reports_broken_bundles(dest: Path) -> None:
    (dest / "broken-json").mkdir()
    (dest / "broken-json/manifest.json").write_text("{")
    (dest / "no-manifest").mkdir()
    (dest / ".k8s.build-tmp").mkdir()  # a build in progress: not a bundle
    (dest / "stray-file").write_text("x")
    (dest / NAME / "bin/etcd").unlink()
    listed = {b.name: b for b in list_bundles(dest)}
    assert set(listed) == {"broken-json", "no-manifest", NAME}
    assert "not JSON" in (listed["broken-json"].problem or "")
    assert listed["no-manifest"].problem == "manifest.json: missing"
    short = listed[NAME]
    assert not short.valid and short.problem == "bin/etcd: missing"
    assert short.manifest is not None and short.size_bytes and short.created_at
    assert list_bundles(dest / "absent") == []


async def test_bundle_lookups(dest: Path) -> None:
    bundle = await open_bundle(dest, NAME)
    assert bundle.name == NAME and bundle.root == (dest / NAME).resolve()
    with pytest.raises(KeyError):
        bundle.file("bin/../manifest.json")
    with pytest.raises(Invalid, match=r"no gpu image.*sandbox, dns, verify"):
        bundle.image("gpu")


async def test_a_directory_in_place_of_a_file_is_refused(dest: Path) -> None:
    (dest / NAME / "bin/kubelet").unlink()
    (dest / NAME / "bin/kubelet").mkdir()
    assert "bin/kubelet: not a regular file" in await refused(dest)


def test_a_listing_is_bounded(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        (dest / f"b{i}").mkdir()
    monkeypatch.setattr(service, "MAX_BUNDLES", 3)
    assert [b.name for b in list_bundles(dest)] == ["b0", "b1", "b2"]
