"""`taichu artifact build` from small real inputs: versions asked of the binaries, every
file hashed into the manifest, images made, the result opened and verified; a rebuild
keeps an identical bundle, a changed input replaces it, and nothing half-built shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taichu.artifacts.build import BuildError, build
from taichu.artifacts.service import list_bundles, open_bundle, sha256_file
from taichu.artifacts.versions import debian_version
from tests.artifacts.sources import make_sources, script

NAME = "k8s-v1.36.3-amd64"


def only_bundles(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.name != ".build.lock")


async def test_a_bundle_is_built_from_the_inputs_and_verifies(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    dest = tmp_path / "artifacts"
    result = build(sources, dest)
    assert result.changed and result.root == dest / NAME
    m = result.manifest
    assert m.name == NAME and m.kubernetes_version == "v1.36.3" and m.arch == "amd64"
    assert m.components == {
        "kubernetes": "v1.36.3",
        "etcd": "v3.6.5",
        "containerd": "v2.4.2",
        "runc": "1.1.5",
        "cni_plugins": "1.1.1",
        "coredns": "v1.15.0",
        "flannel": "v0.28.10",
        "busybox": "1.35.0",
        "pause": "3.10",
    }
    paths = {f.path for f in m.files}
    assert {
        f"bin/{b}" for b in ("kubelet", "etcd", "runc", "containerd", "flanneld", "taichu-apilb")
    } <= paths
    assert {f"cni/{p}" for p in ("bridge", "host-local", "loopback", "portmap")} <= paths
    assert {(i.purpose, i.name, i.path) for i in m.images} == {
        ("sandbox", "registry.k8s.io/pause:3.10", "images/pause.tar"),
        ("dns", "registry.k8s.io/coredns/coredns:v1.15.0", "images/coredns.tar"),
        ("verify", "docker.io/library/busybox:1.35", "images/busybox.tar"),
    }
    for entry in m.files:  # the manifest on disk says what is on disk
        assert sha256_file(dest / NAME / entry.path) == entry.sha256
        assert (dest / NAME / entry.path).stat().st_mode & 0o777 == entry.mode_bits
    assert json.loads((dest / NAME / "manifest.json").read_bytes())["format"] == 1
    assert only_bundles(dest) == [NAME]  # no temporary directory left

    bundle = await open_bundle(dest, NAME)
    assert bundle.manifest == m
    assert bundle.file("bin/kubelet") == dest / NAME / "bin/kubelet"
    assert bundle.image("dns").name == "registry.k8s.io/coredns/coredns:v1.15.0"


def test_a_rebuild_keeps_an_identical_bundle_and_replaces_a_changed_one(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    dest = tmp_path / "artifacts"
    first = build(sources, dest)
    inode = (dest / NAME).stat().st_ino
    again = build(sources, dest)
    assert not again.changed and again.manifest == first.manifest  # created_at kept too
    assert (dest / NAME).stat().st_ino == inode

    # A build killed half-way left its temporary directory: the next build removes it.
    (dest / f".{NAME}.build-killed" / "bin").mkdir(parents=True)
    script(sources.lab_bin / "kubelet", "Kubernetes v1.36.3", extra="# rebuilt\n")
    changed = build(sources, dest)
    assert changed.changed
    assert changed.manifest.file("bin/kubelet").sha256 != first.manifest.file("bin/kubelet").sha256
    assert (dest / NAME / "bin/kubelet").read_text().count("rebuilt") == 1
    # Images are deterministic: unchanged inputs, the same archives.
    assert changed.manifest.file("images/busybox.tar") == first.manifest.file("images/busybox.tar")
    assert only_bundles(dest) == [NAME]
    assert [b.name for b in list_bundles(dest) if b.valid] == [NAME]


def test_missing_inputs_are_named_and_nothing_is_made(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    (sources.lab_bin / "kubelet").unlink()
    (sources.cni_dir / "portmap").unlink()
    dest = tmp_path / "artifacts"
    with pytest.raises(BuildError) as caught:
        build(sources, dest)
    assert str(sources.lab_bin / "kubelet") in str(caught.value)
    assert str(sources.cni_dir / "portmap") in str(caught.value)
    assert "--with-node" in str(caught.value)
    assert not dest.exists() or only_bundles(dest) == []


def test_disagreeing_or_silent_binaries_are_refused(tmp_path: Path) -> None:
    dest = tmp_path / "artifacts"
    mixed = make_sources(tmp_path / "mixed", kubelet="Kubernetes v1.35.0")
    with pytest.raises(BuildError, match="differ in version"):
        build(mixed, dest)
    silent = make_sources(tmp_path / "silent", flanneld="was not built properly")
    with pytest.raises(BuildError, match=r"flanneld.*--component flannel=VERSION"):
        build(silent, dest)
    made = build(silent, dest, overrides={"flannel": "v0.28.10"}, name="given")
    assert made.manifest.components["flannel"] == "v0.28.10" and made.root == dest / "given"
    assert only_bundles(dest) == ["given"]


@pytest.mark.skipif(
    not debian_version("containernetworking-plugins"),
    reason="Debian's containernetworking-plugins is not installed (scripts/bootstrap.sh --test)",
)
def test_cni_plugins_that_do_not_know_their_version_take_the_debian_package_s(
    tmp_path: Path,
) -> None:
    # What Debian's plugins answer: the protocol versions are not the plugins' version.
    debian = "CNI {} plugin version unknown\nCNI protocol versions supported: 0.1.0, 0.2.0, 1.0.0"
    made = build(make_sources(tmp_path / "src", cni=debian), tmp_path / "artifacts")
    package = debian_version("containernetworking-plugins")
    assert made.manifest.components["cni_plugins"] == package != "0.1.0"


def test_a_dynamically_linked_busybox_is_refused(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    dynamic = Path("/bin/true").resolve()  # an ELF with a program interpreter
    os.unlink(sources.busybox)
    sources.busybox.write_bytes(dynamic.read_bytes())
    sources.busybox.chmod(0o755)
    with pytest.raises(BuildError, match="dynamically linked"):
        build(sources, tmp_path / "artifacts", overrides={"busybox": "1.35.0"})


def test_the_command_prints_what_it_made_and_fails_with_one_sentence(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    dest = tmp_path / "artifacts"
    argv = [
        sys.executable,
        "-m",
        "taichu.cli",
        "artifact",
        "build",
        "--source",
        str(sources.lab_bin),
    ]
    argv += ["--runc", str(sources.runc), "--cni-dir", str(sources.cni_dir)]
    argv += ["--busybox", str(sources.busybox), "--dest", str(dest)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    made = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert made.returncode == 0, made.stderr
    assert f"made bundle {NAME} at {dest / NAME}" in made.stdout
    assert "image sandbox: registry.k8s.io/pause:3.10" in made.stdout
    again = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0 and f"up to date: bundle {NAME}" in again.stdout

    # Default destination: TAICHU_ARTIFACTS__DIR.
    configured = tmp_path / "configured"
    no_dest = argv[: argv.index("--dest")]
    env_dir = {**env, "TAICHU_ARTIFACTS__DIR": str(configured)}
    made = subprocess.run(no_dest, capture_output=True, text=True, timeout=120, env=env_dir)
    assert made.returncode == 0 and (configured / NAME / "manifest.json").is_file()

    (sources.lab_bin / "etcd").unlink()
    failed = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert failed.returncode == 1
    assert "artifact build failed: missing:" in failed.stderr and "Traceback" not in failed.stderr
    assert [b.name for b in list_bundles(dest) if b.valid] == [NAME]  # the old one stays


def test_an_input_changed_during_the_build_fails_it(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    dest = tmp_path / "artifacts"

    def meddle(line: str) -> None:
        if line.startswith("copying"):  # after hashing, before copying
            script(sources.lab_bin / "etcd", "etcd Version: 3.6.5", extra="# swapped\n")

    with pytest.raises(BuildError, match="etcd changed while the bundle was being built"):
        build(sources, dest, say=meddle)
    assert only_bundles(dest) == []
