"""Node removal through a real `taichu serve` (stand-in pipeline, lab cluster behind the
created one): what is refused (last control-plane member 409, a node the platform did not
create 422, an unknown node 404), a drain a PodDisruptionBudget blocks fails after its
timeout and leaves the node schedulable, then with force the pods are deleted, rescheduled
by their Deployment on the other worker, the DaemonSet's pod left alone, the Node gone,
the machine cleaned and `available`."""

from __future__ import annotations

from typing import Any

from taichu.lab import kwok
from taichu.lab.cluster import LabCluster
from taichu.lab.ssh_hosts import SshHost
from tests.provision.serving import Provision
from tests.provision.test_expansion import (  # noqa: F401 (fixtures)
    ENDED,
    cluster,
    create,
    pytestmark,
    served,
    wait,
)

NS = "removal"
LABELS = {"app": "web"}


def removal(p: Provision, cluster_id: str, removal_id: str) -> dict[str, Any]:
    response = p.get(f"/api/v1/clusters/{cluster_id}/node-removals/{removal_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def wait_removal(p: Provision, cluster_id: str, removal_id: str) -> dict[str, Any]:
    return dict(
        wait(
            "removal",
            lambda: (r := removal(p, cluster_id, removal_id))["status"] in ENDED and r,
            180,
        )
    )


def pods(lab: LabCluster, selector: str) -> list[dict[str, Any]]:
    found = lab.api.get(f"/api/v1/namespaces/{NS}/pods", labelSelector=selector)
    return [p for p in found["items"] if not p["metadata"].get("deletionTimestamp")]


def running_on(lab: LabCluster, selector: str) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["spec"].get("nodeName", "")
        for p in pods(lab, selector)
        if (p.get("status") or {}).get("phase") == "Running"
    }


def deploy(lab: LabCluster) -> None:
    api = lab.api
    api.create("/api/v1/namespaces", {"metadata": {"name": NS}}, exist_ok=True)
    template = {
        "metadata": {"labels": LABELS},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    api.create(
        f"/apis/apps/v1/namespaces/{NS}/deployments",
        {
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": template},
        },
    )
    agent = {"app": "agent"}
    api.create(
        f"/apis/apps/v1/namespaces/{NS}/daemonsets",
        {
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": agent},
                "template": {
                    "metadata": {"labels": agent},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        },
    )
    api.create(
        f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets",
        {
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": LABELS}},
        },
    )


def test_node_removal(
    served: Provision,  # noqa: F811
    ssh_hosts: list[SshHost],
    cluster: LabCluster,  # noqa: F811
) -> None:
    cluster_id, (cp, w1, w2) = create(served, ssh_hosts, ["master", "worker", "worker"])
    base = f"/api/v1/clusters/{cluster_id}/nodes"
    # w2 cordoned while the Deployment starts: both its pods land on w1.
    cluster.kubectl("cordon", "w2")
    deploy(cluster)
    wait("web on w1", lambda: list(running_on(cluster, "app=web").values()) == ["w1", "w1"])
    wait("agent on w1", lambda: "w1" in running_on(cluster, "app=agent").values())
    cluster.kubectl("uncordon", "w2")

    last = served.delete(f"{base}/m0")
    assert last.status_code == 409, last.text
    assert "last member of the control plane" in last.json()["message"]
    cluster.api.create(
        "/api/v1/nodes",
        kwok.node_manifest("stranger", role="worker", ip="172.31.9.9", kubelet_version="v1.36.3"),
    )
    stranger = served.delete(f"{base}/stranger")
    assert stranger.status_code == 422, stranger.text
    assert "was not created by the platform" in stranger.json()["message"]
    cluster.delete_nodes(["stranger"])  # (not a place for the pods to go later)
    missing = served.delete(f"{base}/nowhere")
    assert missing.status_code == 404, missing.text
    bad = served.delete(f"{base}/w1?timeout=-1")
    assert bad.status_code == 422 and "timeout" in bad.json()["message"], bad.text
    assert served.statuses([w1]) == ["in_use"]

    # The budget allows no disruption: the drain gives up after its timeout.
    blocked = served.delete(f"{base}/w1?timeout=4")
    assert blocked.status_code == 200, blocked.text
    first = blocked.json()["data"]
    assert first["status"] == "pending" and first["node_name"] == "w1" and not first["force"]
    ended = wait_removal(served, cluster_id, first["id"])
    assert ended["status"] == "failed", ended
    assert "2 pods could not be evicted within 4s" in ended["error_msg"]
    assert "force=true" in ended["error_msg"]
    node = cluster.api.get("/api/v1/nodes/w1")
    assert not node["spec"].get("unschedulable"), "uncordoned after the failed drain"
    assert served.statuses([w1]) == ["in_use"]
    assert sorted(running_on(cluster, "app=web").values()) == ["w1", "w1"]

    # With force: the pods that would not be evicted are deleted, and rescheduled.
    forced = served.delete(f"{base}/w1?timeout=3&force=true")
    assert forced.status_code == 200, forced.text
    ended = wait_removal(served, cluster_id, forced.json()["data"]["id"])
    assert ended["status"] == "completed", ended
    assert ended["progress"] == 100 and ended["current_step"] == "Node removed"
    assert len(ended["drained"]["deleted"]) == 2
    assert all(k.startswith(f"{NS}/web-") for k in ended["drained"]["deleted"])
    assert [k.split("/")[1].startswith("agent-") for k in ended["drained"]["skipped"]] == [True]
    steps = {(s["step"], s["machine_id"]): s["status"] for s in ended["steps"]}
    assert steps == {("teardown", w1): "done"}
    assert "node deleted" in ended["logs"]
    assert "w1" not in {n["metadata"]["name"] for n in cluster.nodes()}
    wait("rescheduled", lambda: sorted(running_on(cluster, "app=web").values()) == ["w2", "w2"])
    assert served.statuses([cp, w1, w2]) == ["in_use", "available", "in_use"]
    assert ssh_hosts[1].exec("cat /root/torn").stdout.strip() == "torn"
    tasks = served.get("/api/v1/create-tasks").json()["data"]["tasks"]
    members = served.task(tasks[0]["id"])["machines"]
    assert [m["node_name"] for m in members] == ["m0", "w2"]
