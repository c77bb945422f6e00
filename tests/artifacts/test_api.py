"""GET /api/v1/artifacts through a real `taichu serve`: the bundles of the configured
directory, broken ones with their problem, paged like every list; signed-in users only."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from taichu.artifacts.build import build
from tests.artifacts.sources import make_sources
from tests.clusters.serving import serve

NAME = "k8s-v1.36.3-amd64"


def test_the_list_shows_each_bundle_as_the_contract_says(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    made = build(make_sources(tmp_path / "src"), artifacts).manifest
    shutil.copytree(artifacts / NAME, artifacts / "damaged")
    (artifacts / "damaged/manifest.json").write_text("{}")
    (artifacts / "zz-missing-file").mkdir()
    shutil.copytree(artifacts / NAME, artifacts / "zz-missing-file", dirs_exist_ok=True)
    manifest = (artifacts / "zz-missing-file/manifest.json").read_text()
    (artifacts / "zz-missing-file/manifest.json").write_text(
        manifest.replace(f'"name": "{NAME}"', '"name": "zz-missing-file"')
    )
    (artifacts / "zz-missing-file/bin/kubelet").unlink()

    with serve(tmp_path, "artifacts", TAICHU_ARTIFACTS__DIR=str(artifacts)) as served:
        user = served.new_user("reader")
        answer = httpx.get(f"{served.url}/api/v1/artifacts", headers=user, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["code"] == 0 and body["message"] == "success"
        data = body["data"]
        assert (data["total"], data["page"], data["limit"]) == (3, 1, 20)
        by_name = {a["name"]: a for a in data["artifacts"]}
        assert list(by_name) == ["damaged", NAME, "zz-missing-file"]
        good = by_name[NAME]
        assert good == {
            "name": NAME,
            "valid": True,
            "problem": None,
            "kubernetes_version": "v1.36.3",
            "arch": "amd64",
            "components": made.components,
            "network_plugins": ["flannel"],
            "container_runtimes": ["containerd"],
            "images": [{"name": i.name, "purpose": i.purpose} for i in made.images],
            "size_bytes": sum(f.size for f in made.files),
            "created_at": made.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        damaged = by_name["damaged"]
        assert damaged["valid"] is False and "format" in damaged["problem"]
        assert damaged["kubernetes_version"] is None and damaged["components"] == {}
        missing = by_name["zz-missing-file"]
        assert missing["valid"] is False and missing["problem"] == "bin/kubelet: missing"
        assert missing["kubernetes_version"] == "v1.36.3"

        paged = httpx.get(
            f"{served.url}/api/v1/artifacts", params={"page": 2, "limit": 2}, headers=user
        ).json()["data"]
        assert [a["name"] for a in paged["artifacts"]] == ["zz-missing-file"]
        assert (paged["total"], paged["page"], paged["limit"]) == (3, 2, 2)

        anonymous = httpx.get(f"{served.url}/api/v1/artifacts", timeout=30)
        assert anonymous.status_code == 401 and anonymous.json()["data"] is None
        bad = httpx.get(f"{served.url}/api/v1/artifacts", params={"page": 0}, headers=user)
        assert bad.status_code in (400, 422) and "page" in bad.json()["message"]


def test_the_default_directory_is_in_the_data_dir_and_may_be_absent(tmp_path: Path) -> None:
    with serve(tmp_path, "default") as served:
        answer = httpx.get(f"{served.url}/api/v1/artifacts", headers=served.admin, timeout=30)
        assert answer.status_code == 200
        assert answer.json()["data"] == {"artifacts": [], "total": 0, "page": 1, "limit": 20}
        # serve()'s data dir is tmp_path/data-<label>; the default is <data dir>/artifacts.
        build(make_sources(tmp_path / "src"), tmp_path / "data-default" / "artifacts")
        listed = httpx.get(f"{served.url}/api/v1/artifacts", headers=served.admin, timeout=30)
        assert [a["name"] for a in listed.json()["data"]["artifacts"]] == [NAME]
