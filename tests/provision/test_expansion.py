"""Expansions through a real `taichu serve` with the stand-in pipeline over real SSH on lab
hosts and a real (kwok) cluster behind the created one (tests/provision/
expansion_pipeline.py): validation and what is refused (nothing stored), picking by facts,
cancel while pending and between steps, a failed join, then two machines joined, and the
history's fields."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taichu.lab.cluster import LabCluster
from taichu.lab.pytest_fixtures import ClusterFactory, HostFactory
from taichu.lab.ssh_hosts import SshHost
from tests.provision.serving import Provision, count, reset_hosts, serve_provision

pytestmark = pytest.mark.lab
ENDED = ("completed", "failed", "cancelled")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RECORD = {
    "id",
    "cluster_id",
    "old_node_count",
    "new_node_count",
    "old_cpu_cores",
    "new_cpu_cores",
    "old_memory_gb",
    "new_memory_gb",
    "old_storage_gb",
    "new_storage_gb",
    "status",
    "reason",
    "requested_by",
    "created_at",
}


@pytest.fixture
def cluster(lab_cluster_factory: ClusterFactory) -> LabCluster:
    return lab_cluster_factory(workers=0, control_planes=0)


@pytest.fixture
def served(tmp_path: Path, ssh_hosts: list[SshHost], cluster: LabCluster) -> Iterator[Provision]:
    reset_hosts(ssh_hosts)
    kubeconfig = tmp_path / "lab.kubeconfig"
    kubeconfig.write_text(cluster.kubeconfig)
    with serve_provision(
        tmp_path,
        "expand",
        TAICHU_PROVISION__PIPELINE="tests.provision.expansion_pipeline",
        TAICHU_TEST_LAB_KUBECONFIG=str(kubeconfig),
    ) as s:
        yield s


def wait(what: str, probe: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.3)


def create(p: Provision, hosts: list[SshHost], roles: list[str]) -> tuple[str, list[str]]:
    ids = [
        p.add_machine(h, f"{r[0]}{i}", r) for i, (h, r) in enumerate(zip(hosts, roles, strict=True))
    ]
    created = p.create("grown", ids).json()["data"]
    task = p.wait_task(created["id"], lambda t: t["status"] in ENDED)
    assert task["status"] == "completed", task
    return created["cluster_id"], ids


def expansion(p: Provision, cluster_id: str, expansion_id: str) -> dict[str, Any]:
    response = p.get(f"/api/v1/clusters/{cluster_id}/expansion/{expansion_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def wait_expansion(p: Provision, cluster_id: str, expansion_id: str, ok: Any) -> dict[str, Any]:
    return dict(
        wait(
            "expansion",
            lambda: (e := expansion(p, cluster_id, expansion_id)) and ok(e) and e,
            180,
        )
    )


def history(p: Provision, cluster_id: str) -> list[dict[str, Any]]:
    response = p.get(f"/api/v1/clusters/{cluster_id}/expansion/history")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"expansions"}
    return list(data["expansions"])


def jobs_enabled(p: Provision, enabled: bool) -> None:
    assert p.server is not None
    p.server.env["TAICHU_JOBS__ENABLED"] = "true" if enabled else "false"
    p.restart(signal.SIGTERM)


def test_expansion_rules_picking_cancel_failure_and_join(
    served: Provision,
    ssh_hosts: list[SshHost],
    ssh_host_factory: HostFactory,
    cluster: LabCluster,
) -> None:
    cluster_id, (cp, w1) = create(served, ssh_hosts[:2], ["master", "worker"])
    extra = [ssh_hosts[2], *ssh_host_factory(1, prefix="xp")]
    reset_hosts(extra)
    w2 = served.add_machine(extra[0], "w2", "worker")
    w3 = served.add_machine(extra[1], "w3", "worker")
    url = f"/api/v1/clusters/{cluster_id}/expansion"
    # Live state: two kwok nodes of 2 cores, 4 GiB and 100 GiB each.
    base = {"new_node_count": 3, "new_cpu_cores": 5, "new_memory_gb": 8, "new_storage_gb": 200}

    def refused(body: dict[str, Any], status: int, *words: str, path: str = url) -> None:
        response = served.post(path, body)
        assert response.status_code == status, response.text
        doc = response.json()
        assert doc["code"] == status and doc["data"] is None
        for word in words:
            assert word in doc["message"], doc["message"]

    refused({"new_cpu_cores": 4}, 400, "new_node_count")
    refused({**base, "new_node_count": "three"}, 400, "new_node_count")
    refused({**base, "surprise": 1}, 400, "surprise")
    refused({**base, "new_node_count": 2}, 422, "new_node_count: the cluster has 2 nodes")
    refused(
        {**base, "new_node_count": 5},
        422,
        "new_node_count: 5 nodes asked and the cluster has 2",
        "3 available worker machines with facts are needed, 2 there are (w2, w3)",
    )
    refused({**base, "new_cpu_cores": 1000}, 422, "new_cpu_cores: 1000 CPU cores asked", "missing")
    refused({**base, "machine_ids": [w1]}, 422, "machine_ids: machine w1", "in_use, not available")
    refused({**base, "machine_ids": [w2, w3]}, 422, "new_node_count", "it would have 4, not 3")
    unknown = "00000000-0000-4000-8000-000000000000"
    refused({**base, "machine_ids": [unknown]}, 422, f"machine {unknown} not found")
    # A cluster the platform did not create: nothing of it to reach.
    registered = served.post(
        "/api/v1/clusters", {"name": "registered", "kubeconfig": cluster.kubeconfig}
    )
    assert registered.status_code == 200, registered.text
    other = registered.json()["data"]["id"]
    refused(
        base, 422, "was not created by the platform", path=f"/api/v1/clusters/{other}/expansion"
    )
    assert served.delete(f"/api/v1/clusters/{other}").status_code == 200
    # Refusals stored nothing.
    assert history(served, cluster_id) == []
    assert served.statuses([w2, w3]) == ["available", "available"]

    # Picked by facts; cancelled while pending (no worker to start it).
    jobs_enabled(served, False)
    response = served.post(url, {**base, "reason": "业务增长需要"})
    assert response.status_code == 200, response.text
    record = response.json()["data"]
    assert set(record) == RECORD
    assert record["cluster_id"] == cluster_id and record["status"] == "pending"
    assert (record["old_node_count"], record["new_node_count"]) == (2, 3)
    assert (record["old_cpu_cores"], record["new_cpu_cores"]) == (4, 5)
    assert (record["old_memory_gb"], record["new_memory_gb"]) == (8, 8)
    assert (record["old_storage_gb"], record["new_storage_gb"]) == (200, 200)
    assert record["reason"] == "业务增长需要" and record["requested_by"] == "admin"
    assert RFC3339.match(record["created_at"])
    detail = expansion(served, cluster_id, record["id"])
    assert [m["node_name"] for m in detail["machines"]] == ["w2"]  # the smaller name of twins
    assert served.statuses([w2, w3]) == ["deploying", "available"]
    busy = served.post(url, base)
    assert busy.status_code == 409 and "has an expansion running" in busy.json()["message"]
    cancel = served.post(f"{url}/{record['id']}/cancel", None)
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["data"]["status"] == "cancelled"
    assert served.statuses([w2, w3]) == ["available", "available"]
    again = served.post(f"{url}/{record['id']}/cancel", None)
    assert again.status_code == 409, again.text
    jobs_enabled(served, True)

    # Cancelled between steps: the journal shows the steps done, nothing is left.
    extra[0].exec("touch /root/hold")
    held = served.post(url, {**base, "machine_ids": [w2]}).json()["data"]
    wait_expansion(
        served, cluster_id, held["id"], lambda e: e["current_step"] == "Waiting on the machines"
    )
    assert served.post(f"{url}/{held['id']}/cancel", None).status_code == 200
    extra[0].exec("rm -f /root/hold")
    ended = wait_expansion(served, cluster_id, held["id"], lambda e: e["status"] in ENDED)
    assert ended["status"] == "cancelled", ended
    steps = {(s["step"], s["machine_id"]): s["status"] for s in ended["steps"]}
    assert steps[("prepare", w2)] == steps[("hold", w2)] == "done"
    assert ("join", w2) not in steps
    assert any(line.split(" ", 2)[1] == "[w2]" for line in ended["logs"].splitlines())
    assert served.statuses([w2]) == ["available"]
    assert extra[0].exec("cat /root/torn").stdout.strip() == "torn"  # rolled back
    assert "w2" not in {n["metadata"]["name"] for n in cluster.nodes()}

    # A join that fails names the machine and step; the machine is released.
    reset_hosts(extra)
    extra[1].exec("rm -f /root/needed")
    failed = served.post(url, {**base, "new_node_count": 4, "machine_ids": [w2, w3]}).json()
    ended = wait_expansion(served, cluster_id, failed["data"]["id"], lambda e: e["status"] in ENDED)
    assert ended["status"] == "failed", ended
    assert ended["error_msg"].startswith(
        f"w3 ({extra[1].address}): Checking what the machines need: "
    ), ended["error_msg"]
    assert "(rolled back)" in ended["error_msg"]
    wait("released", lambda: served.statuses([w2, w3]) == ["available", "available"])
    assert {n["metadata"]["name"] for n in cluster.nodes()} == {"m0", "w1"}

    # Two machines joined: nodes in the cluster, machines in use, the record completed.
    reset_hosts(extra)
    body = {**base, "new_node_count": 4, "new_cpu_cores": 8, "machine_ids": [w2, w3]}
    done = served.post(url, body).json()["data"]
    ended = wait_expansion(served, cluster_id, done["id"], lambda e: e["status"] in ENDED)
    assert ended["status"] == "completed", ended
    assert ended["progress"] == 100 and ended["current_step"] == "Expansion completed"
    assert [s["step"] for s in ended["planned_steps"]] == [
        "prepare",
        "needs",
        "hold",
        "join",
        "finish",
    ]
    assert {n["metadata"]["name"] for n in cluster.nodes()} == {"m0", "w1", "w2", "w3"}
    assert served.statuses([cp, w1, w2, w3]) == ["in_use"] * 4
    assert [count(h, "join") for h in extra] == [1, 1]
    task = served.get("/api/v1/create-tasks").json()["data"]["tasks"][0]
    members = served.task(task["id"])["machines"]
    assert [m["node_name"] for m in members] == ["m0", "w1", "w2", "w3"]
    shown = served.get(f"/api/v1/clusters/{cluster_id}").json()["data"]
    assert shown["node_count"] == 4

    listed = history(served, cluster_id)
    assert [e["id"] for e in listed] == [done["id"], failed["data"]["id"], held["id"], record["id"]]
    assert [e["status"] for e in listed] == ["completed", "failed", "cancelled", "cancelled"]
    assert all(set(e) == RECORD for e in listed)
    assert (listed[0]["old_node_count"], listed[0]["new_node_count"]) == (2, 4)
    assert (listed[0]["old_cpu_cores"], listed[0]["new_cpu_cores"]) == (4, 8)
