"""Versions as the real binaries print them, and asking is bounded in time and output."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from taichu.artifacts import versions
from tests.artifacts.sources import script


@pytest.mark.parametrize(
    ("answer", "version"),
    [
        ("Kubernetes v1.36.3", "1.36.3"),
        ("Client Version: v1.36.3\nKustomize Version: v5.8.1", "1.36.3"),
        ("etcd Version: 3.6.8\nGit SHA: Not provided\nGo Version: go1.26.8", "3.6.8"),
        ("containerd github.com/containerd/containerd/v2 2.4.2+unknown", "2.4.2"),
        ("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev", "1.1.5"),
        ("CoreDNS-1.15.0\nlinux/amd64, go1.26.8, ", "1.15.0"),
        ("BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.", "1.35.0"),
        ("v0.28.10-rc.1", "0.28.10-rc.1"),
        ("was not built properly", None),
    ],
)
def test_versions_as_the_binaries_print_them(answer: str, version: str | None) -> None:
    assert versions.semver(answer) == version


def test_cni_plugins_are_read_by_their_own_rule() -> None:
    debian = "CNI bridge plugin version unknown\nCNI protocol versions supported: 0.1.0, 1.0.0"
    assert versions.CNI_VERSION.search(debian) is None
    found = versions.CNI_VERSION.search("CNI bridge plugin v1.1.1\nCNI protocol versions: 0.1.0")
    assert found is not None and found.group(1) == "1.1.1"


def test_a_binary_that_never_answers_is_given_up(tmp_path: Path) -> None:
    stuck = script(tmp_path / "stuck", "", extra="exec sleep 100\n")
    started = time.monotonic()
    with pytest.raises(versions.VersionError, match="no answer within 1 s"):
        versions.run_bounded([str(stuck)], timeout=1)
    assert time.monotonic() - started < 10


def test_output_is_bounded(tmp_path: Path) -> None:
    loud = script(tmp_path / "loud", "", extra="yes | head -c 3000000\n")
    text = versions.run_bounded([str(loud)])
    assert len(text) == versions.MAX_OUTPUT


def test_asking_names_the_binary_and_what_it_said(tmp_path: Path) -> None:
    silent = script(tmp_path / "flanneld", "was not built properly")
    with pytest.raises(versions.VersionError) as caught:
        versions.ask(silent, "--version")
    assert "flanneld --version" in str(caught.value)
    assert "was not built properly" in str(caught.value)
    with pytest.raises(versions.VersionError, match="cannot run"):
        versions.ask(tmp_path / "absent")


def test_elf_facts_of_real_binaries() -> None:
    true = Path("/bin/true").resolve()
    assert versions.elf_arch(true) in {"amd64", "arm64"}
    assert versions.is_dynamic(true)
    busybox = Path("/bin/busybox")
    if busybox.exists():
        assert not versions.is_dynamic(busybox)  # Debian's busybox-static
    assert versions.elf_arch(Path(__file__)) is None
