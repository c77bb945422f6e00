"""The manifest is strict: every rule refuses with Invalid naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taichu.artifacts.manifest import MAX_FILES, parse_manifest
from taichu.errors import Invalid

SHA = "ab" * 32


def good(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": 1,
        "name": "k8s-v1.36.3-amd64",
        "kubernetes_version": "v1.36.3",
        "arch": "amd64",
        "created_at": "2026-12-01T20:00:00Z",
        "components": {"kubernetes": "v1.36.3", "runc": "1.1.5", "cni_plugins": "1.1.1"},
        "container_runtimes": ["containerd"],
        "network_plugins": ["flannel"],
        "files": [
            {"path": "bin/kubelet", "sha256": SHA, "size": 123, "mode": "0755"},
            {"path": "images/pause.tar", "sha256": SHA, "size": 10, "mode": "0644"},
        ],
        "images": [
            {"name": "registry.k8s.io/pause:3.10", "path": "images/pause.tar", "purpose": "sandbox"}
        ],
    }
    data.update(changes)
    return data


def refused(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(Invalid) as caught:
        parse_manifest(raw)
    assert caught.value.status == 422
    return caught.value.message


def test_the_contract_example_parses() -> None:
    manifest = parse_manifest(json.dumps(good()).encode())
    assert manifest.kubernetes_version == "v1.36.3"
    assert manifest.file("bin/kubelet").mode_bits == 0o755
    assert manifest.size_bytes == 133
    assert manifest.created_at.tzinfo is not None
    # What the builder writes reads back the same.
    assert parse_manifest(manifest.to_json()) == manifest


@pytest.mark.parametrize("fmt", [2, 0, "1", None])
def test_an_unknown_format_is_refused_by_name(fmt: Any) -> None:
    message = refused(good(format=fmt))
    assert "format" in message and "not supported" in message


def test_a_missing_format_is_refused() -> None:
    data = good()
    del data["format"]
    assert "format" in refused(data)


def test_unknown_fields_are_refused() -> None:
    assert "extra" in refused(good(extra=1))
    files = good()["files"]
    files[0]["owner"] = "root"
    assert "files[0].owner" in refused(good(files=files))


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "/etc/passwd", "bin/../x", "bin//x", "./bin/x", "bin\\x", "", "a/"]
)
def test_paths_stay_relative_inside_the_bundle(path: str) -> None:
    files = good()["files"]
    files[0]["path"] = path
    assert "files[0].path" in refused(good(files=files))


@pytest.mark.parametrize("sha", ["AB" * 32, "ab" * 31, "zz" * 32, ""])
def test_sha256_is_64_lowercase_hex(sha: str) -> None:
    files = good()["files"]
    files[0]["sha256"] = sha
    assert "files[0].sha256" in refused(good(files=files))


@pytest.mark.parametrize("size", [-1, 3 * 1024**3, "12", 1.5])
def test_size_is_a_bounded_integer(size: Any) -> None:
    files = good()["files"]
    files[0]["size"] = size
    assert "files[0].size" in refused(good(files=files))


def test_too_many_files_are_refused() -> None:
    files = [{"path": f"bin/f{i}", "sha256": SHA, "size": 1} for i in range(MAX_FILES + 1)]
    assert "files" in refused(good(files=files, images=[]))


def test_a_file_listed_twice_or_under_another_is_refused() -> None:
    twice = [*good()["files"], {"path": "bin/kubelet", "sha256": SHA, "size": 1}]
    assert "listed twice" in refused(good(files=twice))
    under = [*good()["files"], {"path": "bin/kubelet/x", "sha256": SHA, "size": 1}]
    assert "clashes" in refused(good(files=under))


def test_an_image_must_be_a_listed_file() -> None:
    images = [{"name": "registry.k8s.io/pause:3.10", "path": "images/x.tar", "purpose": "sandbox"}]
    assert "images/x.tar is not listed" in refused(good(images=images))


def test_bad_names_versions_and_times_are_refused() -> None:
    assert "name" in refused(good(name="../up"))
    assert "name" in refused(good(name=".hidden"))
    assert "kubernetes_version" in refused(good(kubernetes_version="1.36"))
    assert "created_at" in refused(good(created_at="2026-12-01T20:00:00"))
    assert "created_at" in refused(good(created_at="yesterday"))
    assert "network_plugins" in refused(good(network_plugins=[]))


def test_oversized_and_non_json_manifests_are_refused_without_echo() -> None:
    assert "larger than" in refused(b" " * (1024 * 1024 + 1))
    assert "not JSON" in refused(b"{not json")
    assert "not a JSON object" in refused(b"[1]")
    assert "not JSON" in refused(b"[" * 100_000)
