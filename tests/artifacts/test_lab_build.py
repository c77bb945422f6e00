"""`taichu artifact build` from the lab's real node binaries and Debian's runc, CNI
plugins and busybox-static; the bundle verifies, and its images import into a private
containerd (its own root, state and socket in the test's directory)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taichu.artifacts.build import Sources
from taichu.artifacts.service import open_bundle, open_bundle_sync
from taichu.lab.binaries import K8S_VERSION, default_root
from tests.support.waiting import wait_for

pytestmark = pytest.mark.lab
SOURCES = Sources(lab_bin=default_root() / "bin")
MISSING = SOURCES.missing()
needs_inputs = pytest.mark.skipif(
    bool(MISSING),
    reason="the bundle's inputs are not on this machine yet (node binaries: "
    "scripts/lab-build.sh --with-node; runc, CNI plugins, busybox-static: "
    f"scripts/bootstrap.sh --test); missing: {', '.join(MISSING)}",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("lab-artifacts")
    # The lab's own variables (TAICHU_LAB_CACHE...) stay: they say where the cache is.
    env = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("TAICHU_LAB_") or not k.startswith("TAICHU_")
    }
    done = subprocess.run(
        [sys.executable, "-m", "taichu.cli", "artifact", "build", "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert f"made bundle k8s-{K8S_VERSION}-amd64" in done.stdout, done.stdout
    return dest


@needs_inputs
async def test_the_real_bundle_verifies_and_says_its_versions(built: Path) -> None:
    bundle = await open_bundle(built, f"k8s-{K8S_VERSION}-amd64")
    m = bundle.manifest
    assert m.kubernetes_version == K8S_VERSION and m.arch == "amd64"
    assert m.components["kubernetes"] == K8S_VERSION
    assert m.components["containerd"].startswith("v2.")
    for name in ("etcd", "runc", "cni_plugins", "coredns", "flannel", "busybox"):
        assert m.components[name][0].isdigit() or m.components[name].startswith("v"), name
    assert bundle.image("sandbox").name == "registry.k8s.io/pause:3.10"
    assert bundle.image("dns").name == f"registry.k8s.io/coredns/coredns:{m.components['coredns']}"
    assert bundle.file("bin/kubelet").stat().st_size > 10 * 2**20


@pytest.fixture
def containerd(built: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """containerd from the bundle on a socket of its own; CRI off (nothing of the machine's
    runtime, network or cgroups is touched: it only stores content)."""
    bundle = built / f"k8s-{K8S_VERSION}-amd64"
    socket = tmp_path / "containerd.sock"
    config = tmp_path / "config.toml"
    config.write_text(
        "version = 3\n"
        f'root = "{tmp_path / "root"}"\n'
        f'state = "{tmp_path / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", '
        '"io.containerd.cri.v1.images", "io.containerd.internal.v1.opt", '
        '"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", '
        '"io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs"]\n'
        f'[grpc]\n  address = "{socket}"\n'
        f'[ttrpc]\n  address = "{tmp_path / "ttrpc.sock"}"\n'
        '[debug]\n  address = ""\n[metrics]\n  address = ""\n'
    )
    log = (tmp_path / "containerd.log").open("wb")
    proc = subprocess.Popen(
        [str(bundle / "bin/containerd"), "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        asyncio.run(wait_for(lambda: socket.exists() or proc.poll() is not None, timeout=60))
        assert proc.poll() is None, (tmp_path / "containerd.log").read_text()[-3000:]
        yield str(bundle / "bin/ctr"), socket
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@needs_inputs
def test_every_image_imports_into_containerd(
    built: Path, containerd: tuple[str, Path], tmp_path: Path
) -> None:
    ctr, socket = containerd
    bundle = open_bundle_sync(built, f"k8s-{K8S_VERSION}-amd64")
    base = [ctr, "--address", str(socket), "-n", "k8s.io"]
    importing = [*base, "images", "import", "--local", "--snapshotter", "native"]
    for image in bundle.manifest.images:
        # Unpacked by the client into the native snapshotter (plain directories, no
        # overlay mount left behind): the layer itself is checked, not only the digests.
        done = subprocess.run(
            [*importing, str(bundle.file(image.path))],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run(
        [*base, "images", "ls", "-q"], capture_output=True, text=True, timeout=60
    )
    assert {i.name for i in bundle.manifest.images} <= set(listed.stdout.split()), listed.stdout
    checked = subprocess.run([*base, "images", "check"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout.count("complete") >= 3, checked.stdout
    snapshots = tmp_path / "root" / "io.containerd.snapshotter.v1.native" / "snapshots"
    shells = [p for p in snapshots.glob("*/bin/sh") if p.is_symlink()]
    assert [os.readlink(p) for p in shells] == ["/bin/busybox"]
    assert (shells[0].parent / "busybox").read_bytes() == SOURCES.busybox.read_bytes()
    pauses = list(snapshots.glob("*/pause"))
    assert [p.read_bytes() for p in pauses] == [(SOURCES.lab_bin / "pause").read_bytes()]
