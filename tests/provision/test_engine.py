"""The engine over real SSH on lab hosts (the test pipeline counts each step's runs on
each host): a failed step names machine, step and output and releases the machines; a
retry skips what was done; cancel stops at a step boundary; a SIGKILLed platform
finishes the task after a restart without redoing finished steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.provision.serving import Provision, count, reset_hosts, serve_provision
from tests.support.waiting import wait_until

pytestmark = pytest.mark.lab
HOLD_TITLE = "Waiting on the machines"


@pytest.fixture
def served(tmp_path: Path, ssh_hosts: list[SshHost]) -> Iterator[Provision]:
    reset_hosts(ssh_hosts)
    with serve_provision(tmp_path, "engine") as s:
        yield s


def machines(served: Provision, hosts: list[SshHost]) -> list[str]:
    roles = ["master", "worker", "worker"]
    return [served.add_machine(h, f"m{i}", roles[i]) for i, h in enumerate(hosts)]


def ended(task: dict[str, object]) -> bool:
    return task["status"] in ("completed", "failed", "cancelled")


def test_failed_step_then_retry_skips_what_was_done(
    served: Provision, ssh_hosts: list[SshHost]
) -> None:
    ids = machines(served, ssh_hosts)
    ssh_hosts[1].exec("rm -f /root/needed")
    response = served.create("retried", ids)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["id"]
    task = served.wait_task(task_id, ended)
    assert task["status"] == "failed", task
    address = ssh_hosts[1].address
    assert task["error_msg"].startswith(f"m1 ({address}): Checking what the machines need: ")
    assert "/root/needed is missing" in task["error_msg"]  # the command's output tail
    assert task["current_step"] == "Failed"
    journal = {(r["step"], r["machine_id"]): r["status"] for r in task["steps"]}
    assert journal[("needs", ids[1])] == "failed"
    assert journal[("needs", ids[0])] == journal[("prepare", ids[1])] == "done"
    assert ("hold", ids[0]) not in journal
    # Released for the retry; the cluster row stays, in error.
    assert served.statuses(ids) == ["available"] * 3
    cluster = served.get(f"/api/v1/clusters/{task['cluster_id']}").json()["data"]
    assert cluster["status"] == "error"
    # The other machines finished the failing step; nobody went further.
    assert [count(h, "needs") for h in ssh_hosts] == [1, 0, 1]
    assert [count(h, "hold") for h in ssh_hosts] == [0, 0, 0]

    ssh_hosts[1].exec("touch /root/needed")
    retried = served.post(f"/api/v1/create-tasks/{task_id}/retry", None)
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["status"] == "pending"
    assert retried.json()["data"]["error_msg"] == ""
    assert served.statuses(ids) == ["deploying"] * 3
    task = served.wait_task(task_id, ended)
    assert task["status"] == "completed", task
    # Finished steps were not redone: one run each, on every host.
    for host in ssh_hosts:
        assert count(host, "prepare") == 1, host.hostname
        assert count(host, "needs") == 1, host.hostname
        assert count(host, "finish") == 1, host.hostname
    assert "already done, skipped" in task["logs"]
    assert served.statuses(ids) == ["in_use"] * 3

    # Deleted without teardown: the cluster goes as before; its machines, which still
    # carry the installation, are `error` for an operator to clear (not `in_use` by nothing).
    deleted = served.delete(f"/api/v1/clusters/{task['cluster_id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"] == {"message": "Cluster deleted"}
    assert served.get(f"/api/v1/clusters/{task['cluster_id']}").status_code == 404
    assert served.statuses(ids) == ["error"] * 3
    assert "without teardown" in served.machine(ids[0])["status_message"]


def test_retry_refuses_machines_taken_meanwhile(
    served: Provision, ssh_hosts: list[SshHost]
) -> None:
    ids = machines(served, ssh_hosts)
    ssh_hosts[2].exec("rm -f /root/needed")
    task_id = served.create("taken", ids).json()["data"]["id"]
    assert served.wait_task(task_id, ended)["status"] == "failed"
    put = served.put(f"/api/v1/machines/{ids[0]}/status", {"status": "maintenance"})
    assert put.status_code == 200, put.text
    retried = served.post(f"/api/v1/create-tasks/{task_id}/retry", None)
    assert retried.status_code == 422, retried.text
    assert "m0" in retried.json()["message"] and "maintenance" in retried.json()["message"]
    assert served.task(task_id)["status"] == "failed"
    assert served.statuses(ids) == ["maintenance", "available", "available"]


def test_cancel_stops_at_the_next_step_boundary(
    served: Provision, ssh_hosts: list[SshHost]
) -> None:
    ids = machines(served, ssh_hosts)
    for host in ssh_hosts:
        host.exec("touch /root/hold")
    task_id = served.create("cancelled", ids).json()["data"]["id"]
    held = served.wait_task(task_id, lambda t: t["current_step"] == HOLD_TITLE)
    # Progress is the done steps' weight over all: prepare and needs (1 each) of 8
    # (six test steps of weight 1, register 2).
    assert held["progress"] == 25 and held["status"] == "running"
    cancel = served.post(f"/api/v1/create-tasks/{task_id}/cancel", None)
    assert cancel.status_code == 200, cancel.text
    # The step in progress is not interrupted: the task runs until it ends.
    assert served.task(task_id)["status"] == "running"
    for host in ssh_hosts:
        host.exec("rm -f /root/hold")
    task = served.wait_task(task_id, ended)
    assert task["status"] == "cancelled", task
    assert task["current_step"] == "Cancelled"
    assert [count(h, "hold") for h in ssh_hosts] == [1, 1, 1]  # finished its step
    assert [count(h, "finish") for h in ssh_hosts] == [0, 0, 0]  # nothing after it
    assert served.statuses(ids) == ["available"] * 3
    again = served.post(f"/api/v1/create-tasks/{task_id}/cancel", None)
    assert again.status_code == 409, again.text


def test_platform_killed_mid_task_finishes_after_restart(
    served: Provision, ssh_hosts: list[SshHost]
) -> None:
    ids = machines(served, ssh_hosts)
    for host in ssh_hosts:
        host.exec("touch /root/hold")
    task_id = served.create("survivor", ids).json()["data"]["id"]
    served.wait_task(task_id, lambda t: t["current_step"] == HOLD_TITLE)
    # The step is announced before its machines start it: kill only once all three run it.
    running = (
        "SELECT count(*) FROM create_task_steps"
        " WHERE task_id = :id AND step = 'hold' AND status = 'running'"
    )
    wait_until(
        lambda: served.sql(running, id=task_id)[0][0],
        lambda n: n == 3,
        timeout=60,
    )
    served.restart()  # SIGKILL, then a new process on the same database
    assert served.statuses(ids) == ["deploying"] * 3
    for host in ssh_hosts:
        host.exec("rm -f /root/hold")
    task = served.wait_task(task_id, ended, timeout=180)
    assert task["status"] == "completed", task
    for host in ssh_hosts:
        assert count(host, "prepare") == 1, host.hostname  # done before the kill: kept
        assert count(host, "needs") == 1, host.hostname
        assert count(host, "finish") == 1, host.hostname
    assert served.statuses(ids) == ["in_use"] * 3
    # The journal: the step that was running when the platform died ran again (a second
    # attempt on every machine); the ones done before it were not.
    rows = served.sql(
        "SELECT step, attempt, status FROM create_task_steps WHERE task_id = :id", id=task_id
    )
    attempts = {(step, attempt, status) for step, attempt, status in rows}
    assert attempts == {
        ("prepare", 1, "done"),
        ("needs", 1, "done"),
        ("hold", 2, "done"),
        ("upload", 1, "done"),
        ("finish", 1, "done"),
        ("cluster", 1, "done"),
        ("register", 1, "done"),
    }, rows
