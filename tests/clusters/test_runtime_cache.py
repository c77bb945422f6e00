"""Runtime reads of a cluster the platform holds credentials for: the data comes from the
watch-fed cache (no list per request), and the caller's own RBAC still decides, with a
revoked permission taking effect within the authorization TTL."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from typing import Any

import httpx
import pytest

from taichu.config import ObserveSettings
from taichu.kube.quantity import byte_count, cpu_cores
from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import new_user, pod_manifest, register, wait_for
from tests.conftest import ADMIN_PASSWORD, bearer, login

pytestmark = pytest.mark.lab
TTL = 1.0


def _api_requests(lab: LabCluster, verb: str, resource: str, scope: str) -> int:
    """How many requests of this kind the API server has answered (its own counter)."""
    text = lab.kubectl("get", "--raw", "/metrics").stdout
    total = 0
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if (labels.get("verb"), labels.get("resource"), labels.get("scope")) == (
            verb,
            resource,
            scope,
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def _terminating_namespaces(lab: LabCluster) -> list[str]:
    namespaces = json.loads(lab.kubectl("get", "namespaces", "-o", "json").stdout)["items"]
    return [
        ns["metadata"]["name"]
        for ns in namespaces
        if ns.get("status", {}).get("phase") == "Terminating"
    ]


async def test_pods_come_from_the_cache_as_the_callers_rbac_allows(
    start_app: Any,
    make_settings: Any,
    lab_cluster: LabCluster,
) -> None:
    settings = make_settings(observe=ObserveSettings(authorization_ttl_seconds=TTL))
    client: httpx.AsyncClient = await start_app(settings)
    admin = bearer(await login(client, "admin", ADMIN_PASSWORD))
    created = await register(client, admin, "cached-runtime", lab_cluster.kubeconfig)
    assert created.status_code == 200, created.text
    cluster_id = created.json()["data"]["id"]
    ns = "team-cache"
    token = lab_cluster.mint_token(
        ns, "viewer", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    )
    node = lab_cluster.nodes("worker")[0]["metadata"]["name"]
    lab_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod_manifest(ns, "one", node)))
    user = await new_user(client, "carol")
    bound = await client.post(
        "/api/auth/k8s/account/bind/", headers=user, json={"cluster_id": cluster_id, "token": token}
    )
    assert bound.status_code == 200, bound.text
    path = f"/api/runtime/pods/?cluster_id={cluster_id}&namespace={ns}"

    async def names() -> list[str] | int:
        response = await client.get(path, headers=user)
        if response.status_code != 200:
            return response.status_code
        return [p["name"] for p in response.json()["pods"]]

    first = await client.get(path, headers=user)
    assert first.status_code == 200, first.text
    pod = first.json()["pods"][0]
    assert first.json()["count"] == 1 and pod["name"] == "one" and pod["node"] == node
    assert pod["namespace"] == ns and re.fullmatch(r"\d/1", pod["ready"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pod["created_at"])

    # Twenty reads: not one namespace-scoped pod LIST reaches the API server, and the
    # caller's permission is asked about at most once per TTL. The namespace controller
    # lists pods in each namespace it empties (namespaces earlier tests deleted): count
    # once it is done, when nothing else in this cluster makes such lists.
    await wait_for(
        lambda: asyncio.to_thread(_terminating_namespaces, lab_cluster),
        lambda terminating: terminating == [],
        timeout=120,
        interval=0.5,
    )
    lists = _api_requests(lab_cluster, "LIST", "pods", "namespace")
    lab_cluster.kubectl("get", "pods", "-n", ns)  # the counter sees a list like this one
    assert _api_requests(lab_cluster, "LIST", "pods", "namespace") == lists + 1
    lists += 1
    reviews = _api_requests(lab_cluster, "POST", "selfsubjectaccessreviews", "resource")
    assert reviews >= 1  # the first read asked
    started = time.monotonic()
    for _ in range(20):
        assert await names() == ["one"]
    elapsed = time.monotonic() - started
    assert _api_requests(lab_cluster, "LIST", "pods", "namespace") == lists
    asked = _api_requests(lab_cluster, "POST", "selfsubjectaccessreviews", "resource") - reviews
    assert asked <= math.ceil(elapsed / TTL) + 1, (asked, elapsed)

    # The cache follows the cluster through its watch.
    lab_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod_manifest(ns, "two", node)))
    await wait_for(names, lambda v: v == ["one", "two"], timeout=15)

    # Elsewhere the cluster's RBAC says no, in the API server's words.
    denied = await client.get(
        f"/api/runtime/pods/?cluster_id={cluster_id}&namespace=default", headers=user
    )
    assert denied.status_code == 403
    detail = denied.json()["detail"]
    assert f'User "system:serviceaccount:{ns}:viewer" cannot list resource "pods"' in detail
    assert 'in the namespace "default"' in detail
    everywhere = await client.get(f"/api/runtime/pods/?cluster_id={cluster_id}", headers=user)
    assert everywhere.status_code == 403 and "at the cluster scope" in everywhere.json()["detail"]
    for read in ("nodes", "resources"):
        refused = await client.get(f"/api/runtime/{read}/?cluster_id={cluster_id}", headers=user)
        assert refused.status_code == 403 and '"nodes"' in refused.json()["detail"]

    # Revoked in the cluster: refused within the TTL, plus the time the API server's RBAC
    # authorizer takes to learn of the deletion (an informer) and a request's time.
    lab_cluster.kubectl("delete", "rolebinding", "viewer", "-n", ns)
    revoked_at = time.monotonic()
    assert await wait_for(names, lambda v: v == 403, timeout=TTL + 8) == 403
    assert time.monotonic() - revoked_at < TTL + 8
    # The admin (platform identity) still sees them, from the same cache.
    admin_view = await client.get(path, headers=admin)
    assert [p["name"] for p in admin_view.json()["pods"]] == ["one", "two"]


async def test_resources_from_the_cache_match_the_cluster(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
) -> None:
    created = await register(client, admin_headers, "cached-resources", lab_cluster.kubeconfig)
    cluster_id = created.json()["data"]["id"]
    ns = "res-cache"
    node = lab_cluster.nodes("worker")[0]["metadata"]["name"]
    lab_cluster.kubectl("create", "namespace", ns)
    for i in range(3):
        manifest = pod_manifest(ns, f"p{i}", node)
        lab_cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def expected_requests() -> tuple[float, int]:
        """What the cluster itself says is requested on the node (non-terminated pods)."""
        pods = json.loads(
            lab_cluster.kubectl(
                "get", "pods", "-A", "-o", "json", f"--field-selector=spec.nodeName={node}"
            ).stdout
        )
        cpu, memory = 0.0, 0
        for pod in pods["items"]:
            if pod["status"].get("phase") in ("Succeeded", "Failed"):
                continue
            for c in pod["spec"]["containers"]:
                req = (c.get("resources") or {}).get("requests") or {}
                cpu += cpu_cores(req.get("cpu", "0"))
                memory += byte_count(req.get("memory", "0"))
        return round(cpu, 3), memory

    async def row() -> dict[str, Any]:
        response = await client.get(
            f"/api/runtime/resources/?cluster_id={cluster_id}", headers=admin_headers
        )
        assert response.status_code == 200, response.text
        return next(r for r in response.json()["nodes"] if r["name"] == node)

    async def both() -> tuple[dict[str, Any], tuple[float, int]]:
        # The cluster's answer is taken afresh each time: pods of earlier tests on this
        # node may still be going away.
        return await row(), await asyncio.to_thread(expected_requests)

    def agree(pair: tuple[dict[str, Any], tuple[float, int]]) -> bool:
        found, want = pair
        return (found["requested"]["cpu"], found["requested"]["memory"]) == want

    found, want = await wait_for(both, agree, timeout=30)
    assert want[0] >= 0.75  # our three pods are counted
    assert found["capacity"] == {"cpu": 8.0, "memory": 32 * 2**30}
    # Force-deleted: gone from the cluster when kubectl returns, so `want` lacks it now.
    lab_cluster.kubectl("delete", "pod", "p0", "-n", ns, "--grace-period=0", "--force")
    _, after = await wait_for(both, agree, timeout=30)
    assert after[0] <= round(want[0] - 0.25, 3)
