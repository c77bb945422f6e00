"""Bad create requests through a real `taichu serve` with real lab machines: each is a
4xx in the envelope naming the problem, and nothing changed (no task, no cluster,
machines still available)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from taichu.lab.ssh_hosts import SshHost, start_ssh_hosts
from tests.provision.serving import BUNDLE, Provision, serve_provision, write_bundle

pytestmark = pytest.mark.lab
TAKEN = "already-here"


@pytest.fixture(scope="module")
def extra_hosts(lab_session: None) -> Iterator[list[SshHost]]:
    hosts = start_ssh_hosts(2, prefix="provval")
    yield hosts
    for host in hosts:
        host.destroy()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    ssh_hosts: list[SshHost],
    extra_hosts: list[SshHost],
) -> Iterator[tuple[Provision, dict[str, str]]]:
    with serve_provision(tmp_path_factory.mktemp("provval"), "validation") as s:
        ids = {
            "ma": s.add_machine(ssh_hosts[0], "ma", "master"),
            "wa": s.add_machine(ssh_hosts[1], "wa", "worker"),
            "mb": s.add_machine(ssh_hosts[2], "mb", "master"),
            "gone": s.add_machine(extra_hosts[0], "gone", "worker"),
            "parked": s.add_machine(extra_hosts[1], "parked", "worker"),
        }
        extra_hosts[0].stop()  # still `available` in the inventory: preflight finds out
        assert (
            s.put(f"/api/v1/machines/{ids['parked']}/status", {"status": "maintenance"}).status_code
            == 200
        )
        write_bundle(s.data_dir / "artifacts", "broken-bundle", corrupt=True)
        now = datetime.now(UTC)
        s.sql(
            "INSERT INTO clusters (id, name, description, status, provider, region, "
            "environment_type, labels, source, api_server_url, insecure_skip_tls_verify, "
            "node_count, ready_node_count, total_cpu_cores, total_memory_bytes, "
            "total_storage_bytes, shared, created_at, updated_at) VALUES (:id, :name, '', "
            "'unknown', '太初', 'default', 'default', '{}', 'manual', 'https://192.0.2.1:6443', "
            ":no, 0, 0, 0, 0, 0, :yes, :now, :now)",
            id=str(uuid.uuid4()),
            name=TAKEN,
            no=False,
            yes=True,
            now=now,
        )
        yield s, ids


Body = Callable[[dict[str, str]], dict[str, Any]]


def body(**fields: Any) -> Body:
    def make(ids: dict[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cluster_name": "new-one",
            "machine_ids": [ids["ma"], ids["wa"]],
            "artifact_path": BUNDLE,
        }
        for key, value in fields.items():
            data[key] = value(ids) if callable(value) else value
        return {k: v for k, v in data.items() if v is not ...}

    return make


CASES: list[tuple[str, Body, int, tuple[str, ...]]] = [
    ("bad name", body(cluster_name="not a name!"), 422, ("cluster_name",)),
    ("name taken", body(cluster_name=TAKEN), 409, ("cluster_name", TAKEN)),
    ("no machines", body(machine_ids=[]), 422, ("machine_ids",)),
    ("machines missing", body(machine_ids=...), 400, ("machine_ids",)),
    ("listed twice", body(machine_ids=lambda i: [i["ma"], i["ma"]]), 422, ("machine_ids", "twice")),
    (
        "unknown machine",
        body(machine_ids=lambda i: [i["ma"], str(uuid.uuid4())]),
        422,
        ("machine_ids", "not found"),
    ),
    (
        "not available",
        body(machine_ids=lambda i: [i["ma"], i["parked"]]),
        422,
        ("parked", "maintenance"),
    ),
    ("no master", body(machine_ids=lambda i: [i["wa"]]), 422, ("machine_ids", "master")),
    (
        "even etcd",
        body(machine_ids=lambda i: [i["ma"], i["mb"]]),
        422,
        ("etcd", "odd", "2 masters"),
    ),
    ("bad pods cidr", body(network={"pods_cidr": "10.300.0.0/16"}), 422, ("network.pods_cidr",)),
    ("host bits", body(network={"service_cidr": "10.96.0.1/12"}), 422, ("network.service_cidr",)),
    ("ipv6", body(network={"pods_cidr": "fd00::/64"}), 422, ("network.pods_cidr", "IPv4")),
    (
        "overlap",
        body(network={"pods_cidr": "10.96.0.0/16", "service_cidr": "10.96.0.0/12"}),
        422,
        ("overlaps",),
    ),
    (
        "machines' network",
        body(network={"pods_cidr": "10.213.0.0/16"}),
        422,
        ("network.pods_cidr", "machine"),
    ),
    ("version", body(kubernetes={"version": "v1.30.0"}), 422, ("kubernetes.version", "v1.36.3")),
    ("plugin", body(network={"plugin": "calico"}), 422, ("network.plugin", "calico", "flannel")),
    (
        "runtime",
        body(kubernetes={"container_manager": "docker"}),
        422,
        ("kubernetes.container_manager",),
    ),
    ("no bundle", body(artifact_path="nope"), 422, ("artifact_path", "nope")),
    ("traversal", body(artifact_path="../etc"), 422, ("artifact_path",)),
    ("corrupt bundle", body(artifact_path="broken-bundle"), 422, ("artifact_path", "bin/")),
    ("unknown field", body(extra="x"), 400, ("extra",)),
    ("bad label", body(labels={"bad key!": "x"}), 422, ("labels",)),
    (
        "preflight",
        body(machine_ids=lambda i: [i["ma"], i["gone"]]),
        422,
        ("preflight", "reachable", "gone"),
    ),
]


@pytest.mark.parametrize(("case", "make", "status", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_request_changes_nothing(
    served: tuple[Provision, dict[str, str]],
    case: str,
    make: Body,
    status: int,
    words: tuple[str, ...],
) -> None:
    s, ids = served
    before = {name: s.machine(i)["status"] for name, i in ids.items()}
    response = s.post("/api/v1/clusters/create", make(ids))
    assert response.status_code == status, response.text
    envelope = response.json()
    assert envelope["code"] == status and envelope["data"] is None
    for word in words:
        assert word in envelope["message"], envelope["message"]
    assert s.get("/api/v1/create-tasks").json()["data"]["total"] == 0
    clusters = s.get("/api/v1/clusters").json()["data"]["clusters"]
    assert [c["name"] for c in clusters] == [TAKEN]
    assert {name: s.machine(i)["status"] for name, i in ids.items()} == before
    assert before["ma"] == before["wa"] == "available"


def test_teardown_of_a_cluster_the_platform_did_not_create(
    served: tuple[Provision, dict[str, str]],
) -> None:
    s, _ = served
    (cluster,) = s.get("/api/v1/clusters").json()["data"]["clusters"]
    response = s.delete(f"/api/v1/clusters/{cluster['id']}?teardown=true")
    assert response.status_code == 422, response.text
    assert "not created by the platform" in response.json()["message"]
    assert s.get(f"/api/v1/clusters/{cluster['id']}").status_code == 200


def test_unknown_task(served: tuple[Provision, dict[str, str]]) -> None:
    s, _ = served
    for method, path in (("get", ""), ("post", "/retry"), ("post", "/cancel")):
        url = f"/api/v1/create-tasks/{uuid.uuid4()}{path}"
        response = s.get(url) if method == "get" else s.post(url, None)
        assert response.status_code == 404, response.text
        assert response.json()["data"] is None


def test_only_admins_create_and_users_see_only_their_tasks(
    served: tuple[Provision, dict[str, str]],
) -> None:
    s, ids = served
    user = s.new_user("provision-user")
    response = s.post("/api/v1/clusters/create", body()(ids), headers=user)
    assert response.status_code == 403, response.text
    assert response.json()["data"] is None
    listed = s.get("/api/v1/create-tasks", headers=user)
    assert listed.status_code == 200 and listed.json()["data"]["total"] == 0
    assert s.get("/api/v1/create-tasks").json()["data"]["total"] == 0
