"""A cluster created from three lab machines by the test pipeline (real commands over
real SSH), through a real `taichu serve`: the task's shape and progress, the machines'
statuses, the registered cluster, then its teardown."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.provision.serving import Provision, count, reset_hosts, serve_provision

pytestmark = pytest.mark.lab
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[[a-z0-9.-]+\] [a-z_-]+: ")


@pytest.fixture
def served(tmp_path: Path, ssh_hosts: list[SshHost]) -> Iterator[Provision]:
    reset_hosts(ssh_hosts)
    with serve_provision(tmp_path, "create", TAICHU_PROVISION__LOG_LINES_PER_TASK="30") as s:
        yield s


def test_create_register_and_teardown(served: Provision, ssh_hosts: list[SshHost]) -> None:
    ids = [
        served.add_machine(ssh_hosts[0], "CP-One", "master"),
        served.add_machine(ssh_hosts[1], "worker-a", "worker"),
        served.add_machine(ssh_hosts[2], "worker-b", "worker"),
    ]
    response = served.create(
        "made-here",
        ids,
        description="from machines",
        labels={"env": "lab"},
        environment_type="testing",
        network={"pods_cidr": "10.80.0.0/16", "service_cidr": "10.90.0.0/16"},
    )
    assert response.status_code == 200, response.text
    created = response.json()["data"]
    assert set(created) >= {
        "id",
        "cluster_name",
        "status",
        "progress",
        "current_step",
        "created_at",
    }
    assert created["cluster_name"] == "made-here"
    assert created["status"] == "pending" and created["progress"] == 0
    assert created["current_step"] == "Initializing"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created["created_at"])
    # At once: machines deploying, a pending cluster named as asked, provider 太初.
    cluster = served.get(f"/api/v1/clusters/{created['cluster_id']}").json()["data"]
    assert cluster["name"] == "made-here"
    assert cluster["provider"] == "太初"
    assert cluster["api_server_url"] == f"https://{ssh_hosts[0].address}:6443"
    statuses = served.statuses(ids)
    assert set(statuses) <= {"deploying", "in_use"}, statuses

    task = served.wait_task(created["id"], lambda t: t["status"] in ("completed", "failed"))
    assert task["status"] == "completed", task
    assert task["progress"] == 100
    assert task["current_step"] == "Cluster created successfully"
    assert task["error_msg"] == ""
    assert task["kubernetes_version"] == "v1.36.3" and task["network_plugin"] == "flannel"
    assert task["started_at"] and task["completed_at"]
    assert [m["node_name"] for m in task["machines"]] == ["cp-one", "worker-a", "worker-b"]
    # Every step in order (the pipeline's, then the engine's register), before and after.
    assert [(s["step"], s["per_machine"]) for s in task["planned_steps"]] == [
        ("prepare", True),
        ("needs", True),
        ("hold", True),
        ("upload", True),
        ("finish", True),
        ("cluster", False),
        ("register", False),
    ]
    assert task["planned_steps"][-1]["title"] == "Registering the cluster"
    lines = task["logs"].splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines), lines[:5]
    assert any(line.split(" ", 2)[1] == "[cp-one]" and " finish: " in line for line in lines)
    # The log is bounded per task (30 here): the oldest lines were dropped, the newest kept.
    assert len(lines) == 30, lines
    assert "dns 10.90.0.10" in task["logs"]  # the cluster-wide step's own line
    assert "Registering the cluster" not in lines[0] and " register: " in lines[-1]
    (kept,) = served.sql("SELECT count(*) FROM create_task_logs")
    assert kept[0] == 30
    for host in ssh_hosts:
        assert count(host, "prepare") == 1 and count(host, "finish") == 1
        assert host.exec("cat /root/t/node").stdout.startswith("node ")
        # A file of the verified bundle, streamed from the platform's artifact directory.
        assert host.exec("cat /root/t/kubelet").stdout == "#!/bin/sh\necho kubelet\n"
        assert host.exec("stat -c %a /root/t/kubelet").stdout.strip() == "755"
    assert count(ssh_hosts[0], "cluster") == 1
    assert served.statuses(ids) == ["in_use"] * 3

    cluster = served.get(f"/api/v1/clusters/{created['cluster_id']}").json()["data"]
    assert cluster["labels"] == {"env": "lab"}
    assert cluster["status"] != "pending"
    (row,) = served.sql(
        "SELECT kubeconfig_encrypted, source, environment_type FROM clusters WHERE id = :id",
        id=created["cluster_id"],
    )
    assert row[0] and "BEGIN" not in row[0] and "client-key-data" not in row[0]
    assert row[1:] == ("created", "testing")

    listed = served.get("/api/v1/create-tasks", page=1, limit=10).json()["data"]
    assert listed["total"] == 1 and listed["page"] == 1 and listed["limit"] == 10
    assert listed["tasks"][0]["id"] == created["id"]
    assert listed["tasks"][0]["status"] == "completed"
    assert "logs" not in listed["tasks"][0]

    again = served.post(f"/api/v1/create-tasks/{created['id']}/retry", None)
    assert again.status_code == 409, again.text
    assert "completed" in again.json()["message"]
    cancel = served.post(f"/api/v1/create-tasks/{created['id']}/cancel", None)
    assert cancel.status_code == 409, cancel.text

    # Teardown: the installer's teardown runs on every machine, then they are released
    # and the cluster is gone.
    torn = served.delete(f"/api/v1/clusters/{created['cluster_id']}?teardown=true")
    assert torn.status_code == 200, torn.text
    deadline = time.monotonic() + 60
    while served.get(f"/api/v1/clusters/{created['cluster_id']}").status_code != 404:
        assert time.monotonic() < deadline, served.log()[-3000:]
        time.sleep(0.3)
    assert served.statuses(ids) == ["available"] * 3
    for host in ssh_hosts:
        assert host.exec("cat /root/torn").stdout.strip() == "torn"
        assert host.exec("test -e /root/t", check=False).returncode != 0


def test_teardown_that_fails_keeps_the_cluster_and_can_be_asked_again(
    served: Provision, ssh_hosts: list[SshHost]
) -> None:
    ids = [
        served.add_machine(ssh_hosts[0], "tm", "master"),
        served.add_machine(ssh_hosts[1], "tw", "worker"),
    ]
    created = served.create("torn-later", ids).json()["data"]
    done = served.wait_task(created["id"], lambda t: t["status"] in ("completed", "failed"))
    assert done["status"] == "completed", done
    cluster_id = created["cluster_id"]
    ssh_hosts[1].stop()
    try:
        assert served.delete(f"/api/v1/clusters/{cluster_id}?teardown=true").status_code == 200
        deadline = time.monotonic() + 90
        while (cluster := served.get(f"/api/v1/clusters/{cluster_id}").json()["data"])[
            "status"
        ] != "error":
            assert time.monotonic() < deadline, cluster
            time.sleep(0.3)
        assert f"tw ({ssh_hosts[1].address}): Tearing down: " in cluster["last_probe_error"]
        assert served.statuses(ids) == ["in_use", "in_use"]
    finally:
        ssh_hosts[1].start()
    assert served.delete(f"/api/v1/clusters/{cluster_id}?teardown=true").status_code == 200
    deadline = time.monotonic() + 90
    while served.get(f"/api/v1/clusters/{cluster_id}").status_code != 404:
        assert time.monotonic() < deadline, served.log()[-3000:]
        time.sleep(0.3)
    assert served.statuses(ids) == ["available", "available"]
