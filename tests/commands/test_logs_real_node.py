"""`kubectl logs` of a real pod through the platform: a cluster created by the platform
from a real-node lab machine (real kubelet, real containers), the pod applied through
`POST /api/state/command/` with the `manifest` field, its log read back the same way."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.commands.conftest import kubectl_path
from tests.provision.serving import Provision, serve_platform
from tests.provision.test_create_lab import add_machine, bundles, needs_inputs  # noqa: F401

pytestmark = [pytest.mark.lab, pytest.mark.real_nodes]


@pytest.fixture
def served(tmp_path: Path, bundles: Path) -> Iterator[Provision]:  # noqa: F811
    with serve_platform(
        tmp_path, "cmdlogs", bundles, TAICHU_COMMANDS__KUBECTL_PATH=kubectl_path()
    ) as provision:
        yield provision


def _run(p: Provision, cluster_id: str, command: str, **extra: Any) -> dict[str, Any]:
    answer = p.post("/api/state/command/", {"cluster_id": cluster_id, "command": command, **extra})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@needs_inputs
def test_logs_of_a_real_pod(served: Provision, bundles: Path, real_node_hosts: Any) -> None:  # noqa: F811
    (bundle_dir,) = [d for d in bundles.iterdir() if (d / "manifest.json").is_file()]
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    busybox = next(i["name"] for i in manifest["images"] if i["purpose"] == "verify")
    hosts: list[SshHost] = real_node_hosts(1)
    ids = [add_machine(served, hosts[0], "cmd-cp-1", "master")]
    response = served.create("cmd-logs", ids, artifact_path=bundle_dir.name, with_packages=False)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["id"]
    cluster_id = response.json()["data"]["cluster_id"]
    task = served.wait_task(
        task_id, lambda t: t["status"] in ("completed", "failed", "cancelled"), timeout=900
    )
    assert task["status"] == "completed", (task["error_msg"], task["logs"][-3000:])

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "talker", "namespace": "default"},
        "spec": {
            "tolerations": [{"operator": "Exists"}],  # the one node is the control plane
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "talker",
                    "image": busybox,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "echo hello-from-a-real-pod; sleep 3600"],
                }
            ],
        },
    }
    applied = _run(served, cluster_id, "kubectl apply -f -", manifest=json.dumps(pod))
    assert applied["status"] == "done", applied
    deadline = time.monotonic() + 300
    while True:
        got = _run(served, cluster_id, "kubectl get pod talker -o jsonpath={.status.phase}")
        if got["stdout"] == "Running":
            break
        assert time.monotonic() < deadline, got
        time.sleep(2)
    logs = _run(served, cluster_id, "kubectl logs talker")
    assert logs["status"] == "done" and "hello-from-a-real-pod" in logs["stdout"], logs
    follow = served.post(
        "/api/state/command/", {"cluster_id": cluster_id, "command": "kubectl logs -f talker"}
    )
    assert follow.status_code in (400, 422)
    served.delete(f"/api/v1/clusters/{cluster_id}?teardown=true")
