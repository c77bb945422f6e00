"""Faults of a real creation (the installer's pipeline, real-node lab hosts, a real bundle,
a real `taichu serve` over HTTP), on one set of three machines in turn:

1. sshd killed on one machine while the artifact is distributed: the task fails naming
   that machine and the step, the machines are released (the one without sshd
   `unavailable` until a check finds it answering), the cluster row is in error;
   after sshd is back, a retry resumes from the failed step (the steps finished before
   it keep their first attempt).
2. The platform SIGKILLed during that retry while the control plane starts: the restarted
   server (same data dir and database) finishes the task; the nodes are Ready.
3. After teardown, a new creation cancelled while it runs stops at the next step boundary:
   `cancelled`, machines `available`.

One full creation in all (the retry), to keep the lab pass short."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from taichu.lab.ssh_hosts import SshHost
from taichu.provision.install.pipeline import STEP_NAMES, STEPS
from tests.provision.serving import Provision
from tests.provision.test_create_lab import (  # noqa: F401 (bundles, served: fixtures)
    add_machine,
    bundles,
    needs_inputs,
    served,
    wait,
)

pytestmark = [pytest.mark.lab, pytest.mark.real_nodes]
TITLES = {s.name: s.title for s in STEPS}
ENDED = ("completed", "failed", "cancelled")


def step_rows(task: dict[str, Any], step: str) -> dict[str, dict[str, Any]]:
    """The journal rows of one step, by machine id ("" for a cluster-wide step)."""
    return {r["machine_id"]: r for r in task["steps"] if r["step"] == step}


def running_on(p: Provision, task_id: str, step: str, machine_id: str) -> dict[str, Any]:
    """Wait until the journal shows `step` running on that machine."""

    def probe() -> dict[str, Any] | None:
        task = p.task(task_id)
        assert task["status"] not in ENDED, (task["status"], task["error_msg"])
        row = step_rows(task, step).get(machine_id)
        return task if row is not None and row["status"] == "running" else None

    return dict(wait(f"{step} running on {machine_id}", probe, 600))


def kill_sshd(host: SshHost) -> None:
    """sshd down on the machine, its open sessions with it (as `pkill sshd` would): the
    platform's pooled connection goes too, so the step cannot go on over it."""
    host.stop_sshd()
    host.exec(
        "me=$(readlink /proc/self/ns/mnt); for d in /proc/[0-9]*; do "
        '[ "$(readlink $d/ns/mnt 2>/dev/null)" = "$me" ] || continue; '
        'case "$(readlink $d/exe 2>/dev/null)" in *sshd*) kill -9 "${d#/proc/}";; esac; '
        "done; true"
    )


@needs_inputs
def test_sshd_killed_retry_sigkill_and_cancel(
    served: Provision,  # noqa: F811
    bundles: Path,  # noqa: F811
    real_node_hosts: Any,
) -> None:
    (bundle_dir,) = [d for d in bundles.iterdir() if (d / "manifest.json").is_file()]
    hosts: list[SshHost] = real_node_hosts(3)
    ids = [
        add_machine(served, hosts[0], "CP-1", "master"),
        add_machine(served, hosts[1], "Worker-A", "worker"),
        add_machine(served, hosts[2], "Worker-B", "worker"),
    ]
    body = {"artifact_path": bundle_dir.name, "with_packages": False}

    # 1. sshd killed on Worker-A during distribute.
    response = served.create("faulty", ids, **body)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["id"]
    cluster_id = response.json()["data"]["cluster_id"]
    running_on(served, task_id, "distribute", ids[1])
    kill_sshd(hosts[1])
    task = served.wait_task(task_id, lambda t: t["status"] in ENDED, timeout=600)
    assert task["status"] == "failed", task
    where = f"Worker-A ({hosts[1].lan_address}): {TITLES['distribute']}: "
    assert task["error_msg"].startswith(where), task["error_msg"]
    assert task["current_step"] == "Failed"
    assert step_rows(task, "distribute")[ids[1]]["status"] == "failed"
    assert "pki" not in {r["step"] for r in task["steps"]}  # nothing went further
    # Released: none stays `deploying`. The check a release queues finds Worker-A's sshd
    # down, so it is `unavailable` (saying why) until a check finds it answering again.
    wanted = ["available", "unavailable", "available"]
    wait("machines released", lambda: served.statuses(ids) == wanted, 120)
    assert "refused" in served.machine(ids[1])["status_message"].lower()
    cluster = served.get(f"/api/v1/clusters/{cluster_id}").json()["data"]
    assert cluster["status"] == "error", cluster

    # 2. sshd back; retry; SIGKILL the platform while the control plane starts.
    hosts[1].start_sshd()
    assert served.post(f"/api/v1/machines/{ids[1]}/check", None).status_code == 200
    wait("Worker-A available", lambda: served.statuses(ids) == ["available"] * 3, 120)
    retried = served.post(f"/api/v1/create-tasks/{task_id}/retry", None)
    assert retried.status_code == 200, retried.text
    assert served.statuses(ids) == ["deploying"] * 3
    started = time.monotonic()
    running_on(served, task_id, "control_plane", ids[0])
    served.restart()  # SIGKILL, then a new process on the same data dir and database
    task = served.wait_task(task_id, lambda t: t["status"] in ENDED, timeout=900)
    assert task["status"] == "completed", (task["error_msg"], task["logs"][-3000:])
    print(f"retried and resumed to completion in {time.monotonic() - started:.0f}s")
    assert served.statuses(ids) == ["in_use"] * 3
    nodes = served.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["data"]
    assert sorted(n["name"] for n in nodes["nodes"]) == ["cp-1", "worker-a", "worker-b"], nodes
    assert nodes["summary"] == {"control_plane_count": 1, "worker_count": 2, "ready_count": 3}
    attempts = {(r["step"], r["machine_id"]): r["attempt"] for r in task["steps"]}
    assert {r["status"] for r in task["steps"]} == {"done"}, task["steps"]
    before = STEP_NAMES[: STEP_NAMES.index("distribute")]
    for (step, machine), attempt in attempts.items():
        if step in before or (step == "distribute" and machine != ids[1]):
            assert attempt == 1, (step, machine, attempt)  # done before the failure: kept
    assert attempts[("distribute", ids[1])] == 2  # the failed step, run again
    assert attempts[("control_plane", ids[0])] == 2  # running when the platform died
    assert "already done, skipped" in task["logs"]

    # 3. Teardown, then a new creation cancelled while it runs.
    response = served.delete(f"/api/v1/clusters/{cluster_id}?teardown=true")
    assert response.status_code == 200, response.text
    wait("machines available", lambda: served.statuses(ids) == ["available"] * 3, 300)
    response = served.create("cancelled", ids, **body)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["id"]
    running_on(served, task_id, "distribute", ids[0])
    cancel = served.post(f"/api/v1/create-tasks/{task_id}/cancel", None)
    assert cancel.status_code == 200, cancel.text
    task = served.wait_task(task_id, lambda t: t["status"] in ENDED, timeout=600)
    assert task["status"] == "cancelled", (task["error_msg"], task["logs"][-2000:])
    assert task["current_step"] == "Cancelled"
    # The step under way finished on every machine; the next one never started.
    assert {r["status"] for r in step_rows(task, "distribute").values()} == {"done"}
    assert "pki" not in {r["step"] for r in task["steps"]}
    assert served.statuses(ids) == ["available"] * 3
