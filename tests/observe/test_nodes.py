"""Nodes of a registered lab cluster through `/api/v1/clusters/{id}/nodes`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import wait_for
from tests.observe.helpers import deployment, get_data, namespace, registered

pytestmark = pytest.mark.lab

NODE_FIELDS = {
    "id",
    "name",
    "type",
    "status",
    "cpu_cores",
    "cpu_usage_percent",
    "memory_bytes",
    "memory_usage_percent",
    "pod_count",
    "labels",
    "created_at",
    "updated_at",
}


async def test_list_filters_summary_and_pages(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    path = f"/api/v1/clusters/{cid}/nodes"
    expected = sorted(n["metadata"]["name"] for n in lab_cluster.nodes())
    data = await get_data(client, admin_headers, path)
    assert data["total"] == len(expected) and data["page"] == 1 and data["limit"] == 20
    assert [n["name"] for n in data["nodes"]] == expected
    assert data["summary"] == {
        "control_plane_count": 1,
        "worker_count": len(expected) - 1,
        "ready_count": len(expected),
    }
    node = data["nodes"][0]
    assert set(node) == NODE_FIELDS
    raw = {n["metadata"]["name"]: n for n in lab_cluster.nodes()}[node["name"]]
    assert node["id"] == raw["metadata"]["uid"]
    assert node["status"] == "ready" and node["cpu_cores"] == 8
    assert node["memory_bytes"] == 32 * 2**30
    assert node["labels"]["kubernetes.io/hostname"] == node["name"]
    assert node["created_at"].endswith("Z") and node["updated_at"].endswith("Z")
    # No metrics API in the lab: no usage numbers, and the response says why.
    assert node["cpu_usage_percent"] is None and node["memory_usage_percent"] is None
    assert data["usage_available"] is False and "metrics.k8s.io" in data["usage_note"]

    control = await get_data(client, admin_headers, path, type="control-plane")
    assert [n["type"] for n in control["nodes"]] == ["control-plane"]
    assert control["total"] == 1 and control["summary"] == data["summary"]
    assert (await get_data(client, admin_headers, path, type="master"))["nodes"] == (
        control["nodes"]
    )
    workers = await get_data(client, admin_headers, path, type="worker")
    assert workers["total"] == len(expected) - 1
    assert {n["type"] for n in workers["nodes"]} == {"worker"}
    assert (await get_data(client, admin_headers, path, status="ready"))["total"] == (len(expected))
    for spelling in ("not_ready", "notready", "unknown"):
        assert (await get_data(client, admin_headers, path, status=spelling))["total"] == 0
    both = await get_data(client, admin_headers, path, type="worker", status="ready")
    assert both["total"] == len(expected) - 1

    second = await get_data(client, admin_headers, path, page=2, limit=2)
    assert [n["name"] for n in second["nodes"]] == expected[2:4]
    assert second["total"] == len(expected) and second["limit"] == 2
    assert (await get_data(client, admin_headers, path, page=9))["nodes"] == []
    assert (await get_data(client, admin_headers, path, limit=1000))["limit"] == 100

    bad = await client.get(path, headers=admin_headers, params={"type": "gpu"})
    assert bad.status_code == 422 and "type" in bad.json()["message"]
    bad = await client.get(path, headers=admin_headers, params={"status": "sleepy"})
    assert bad.status_code == 422 and "status" in bad.json()["message"]


async def test_detail_unknown_and_auth(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    name = lab_cluster.nodes("control-plane")[0]["metadata"]["name"]
    detail = await get_data(client, admin_headers, f"/api/v1/clusters/{cid}/nodes/{name}")
    assert set(detail) >= NODE_FIELDS
    assert detail["name"] == name and detail["type"] == "control-plane"
    ready = next(c for c in detail["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and set(ready) >= {"type", "status", "reason", "message"}
    assert {"type": "InternalIP", "address": detail["addresses"][0]["address"]} in (
        detail["addresses"]
    )
    assert {"type": "Hostname", "address": name} in detail["addresses"]
    assert detail["taints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"}
    ]
    assert detail["allocatable_cpu_cores"] == 8 and detail["pod_capacity"] == 110
    assert detail["node_info"]["kubeletVersion"] == "v1.36.3"
    assert detail["usage_available"] is False

    missing = await client.get(f"/api/v1/clusters/{cid}/nodes/no-such-node", headers=admin_headers)
    assert missing.status_code == 404 and missing.json() == {
        "code": 404,
        "message": "node no-such-node not found",
        "data": None,
    }
    unknown = await client.get(
        "/api/v1/clusters/00000000-0000-4000-8000-000000000000/nodes", headers=admin_headers
    )
    assert unknown.status_code == 404 and "not found" in unknown.json()["message"]
    anonymous = await client.get(f"/api/v1/clusters/{cid}/nodes")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 401


async def _pod_counts(
    client: httpx.AsyncClient, headers: dict[str, str], cid: str
) -> dict[str, int]:
    data = await get_data(client, headers, f"/api/v1/clusters/{cid}/nodes")
    return {n["name"]: n["pod_count"] for n in data["nodes"]}


def _actual_counts(cluster: LabCluster) -> dict[str, int]:
    """Non-terminated pods per node, straight from the API server."""
    counts = {n["metadata"]["name"]: 0 for n in cluster.nodes()}
    for pod in cluster.api.get("/api/v1/pods")["items"]:
        node = pod["spec"].get("nodeName")
        if node in counts and pod["status"].get("phase") not in ("Succeeded", "Failed"):
            counts[node] += 1
    return counts


async def test_pod_count_counts_running_not_finished_pods(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)

    async def both() -> tuple[dict[str, int], dict[str, int]]:
        return await _pod_counts(client, admin_headers, cid), _actual_counts(lab_cluster)

    with namespace(lab_cluster) as ns:
        lab_cluster.api.create(
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            deployment("web", 5, cpu="250m", memory="128Mi"),
        )
        # A Job's pod runs, then kwok completes it (Succeeded): no longer on the node.
        lab_cluster.api.create(
            f"/apis/batch/v1/namespaces/{ns}/jobs",
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "once"},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "registry.local/job:1"}],
                        }
                    }
                },
            },
        )

        async def pods_in_ns() -> list[dict[str, Any]]:
            return lab_cluster.api.get(f"/api/v1/namespaces/{ns}/pods")["items"]

        pods = await wait_for(
            pods_in_ns,
            lambda ps: (
                len(ps) == 6
                and sorted(p["status"].get("phase") for p in ps) == ["Running"] * 5 + ["Succeeded"]
            ),
            timeout=60,
        )
        running_on: dict[str, int] = {}
        for pod in pods:
            if pod["status"]["phase"] == "Running":
                node = pod["spec"]["nodeName"]
                running_on[node] = running_on.get(node, 0) + 1
        ours, actual = await wait_for(both, lambda v: v[0] == v[1], timeout=10)
        assert all(ours[node] >= n for node, n in running_on.items())
        busiest = max(running_on, key=lambda n: running_on[n])
        detail = await get_data(client, admin_headers, f"/api/v1/clusters/{cid}/nodes/{busiest}")
        assert detail["pod_count"] == actual[busiest]
        assert detail["cpu_requests_cores"] >= 0.25 * running_on[busiest]
        assert detail["memory_requests_bytes"] >= 128 * 2**20 * running_on[busiest]
    # The namespace is gone: its pods leave the counts as the watch reports the deletions.
    await wait_for(
        both,
        lambda v: (
            v[0] == v[1] and not lab_cluster.api.get(f"/api/v1/namespaces/{ns}/pods")["items"]
        ),
        timeout=60,
    )
