"""The runtime family against a real cluster: registration by address, account binding,
and reads that run as the bound identity (so the cluster's RBAC applies)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import new_user, pod_manifest, register

pytestmark = pytest.mark.lab


def _address(lab: LabCluster) -> tuple[str, int]:
    parts = urlsplit(lab.server)
    return str(parts.hostname), int(parts.port or 443)


async def test_register_by_address_verifies_tls(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
    lab_cluster_factory: Any,
) -> None:
    host, port = _address(lab_cluster)
    body = {
        "name": "by-address",
        "api_server": host,
        "port": port,
        "description": "registered by address",
        "ca_certificate": lab_cluster.ca_pem.decode(),
    }
    response = await client.post(
        "/api/runtime/clusters/register/", json=body, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    cluster = response.json()
    assert cluster["api_server_url"] == lab_cluster.server and cluster["source"] == "runtime"
    listed = await client.get("/api/runtime/clusters/", headers=admin_headers)
    assert [c["id"] for c in listed.json()] == [cluster["id"]]
    # Without the CA, TLS verification fails against the system trust store: refused.
    no_ca = await client.post(
        "/api/runtime/clusters/register/",
        headers=admin_headers,
        json={**body, "name": "no-ca", "ca_certificate": None},
    )
    assert no_ca.status_code == 422 and "certificate" in no_ca.json()["detail"]
    other = lab_cluster_factory(workers=0, control_planes=0)
    wrong = await client.post(
        "/api/runtime/clusters/register/",
        headers=admin_headers,
        json={**body, "name": "wrong-ca", "ca_certificate": other.ca_pem.decode()},
    )
    assert wrong.status_code == 422
    # ...unless explicitly told to skip verification.
    insecure = await client.post(
        "/api/runtime/clusters/register/",
        headers=admin_headers,
        json={**body, "name": "insecure", "ca_certificate": None, "insecure_skip_tls_verify": True},
    )
    assert insecure.status_code == 200
    closed = await client.post(
        "/api/runtime/clusters/register/",
        headers=admin_headers,
        json={**body, "name": "closed", "port": 9},
    )
    assert closed.status_code == 422 and "cannot use" in closed.json()["detail"]
    dup = await client.post("/api/runtime/clusters/register/", json=body, headers=admin_headers)
    assert dup.status_code == 409
    assert (await client.post("/api/runtime/clusters/register/", json=body)).status_code == 401


async def test_bound_identity_is_subject_to_cluster_rbac(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    host, port = _address(lab_cluster)
    registered = await client.post(
        "/api/runtime/clusters/register/",
        headers=admin_headers,
        json={
            "name": "rbac",
            "api_server": host,
            "port": port,
            "ca_certificate": lab_cluster.ca_pem.decode(),
        },
    )
    cluster_id = registered.json()["id"]
    token = lab_cluster.mint_token(
        "team-a",
        "reader",
        rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    )
    node = lab_cluster.nodes("worker")[0]["metadata"]["name"]
    lab_cluster.kubectl("apply", "-f", "-", input=json.dumps(pod_manifest("team-a", "web-1", node)))
    user = await new_user(client, "alice")

    unbound = await client.get(
        f"/api/runtime/pods/?cluster_id={cluster_id}&namespace=team-a", headers=user
    )
    assert unbound.status_code == 403 and "bind" in unbound.json()["detail"]

    bad = await client.post(
        "/api/auth/k8s/account/bind/",
        headers=user,
        json={"cluster_id": cluster_id, "token": "not-a-real-token"},
    )
    assert bad.status_code == 422 and "rejected" in bad.json()["detail"]
    wrong_id = await client.post(
        "/api/auth/k8s/account/bind/", headers=user, json={"cluster_id": 1, "token": token}
    )
    assert wrong_id.status_code == 422 and "cluster_id" in wrong_id.json()["detail"]

    bound = await client.post(
        "/api/auth/k8s/account/bind/",
        headers=user,
        json={"cluster_id": cluster_id, "token": token, "namespace": "team-a"},
    )
    assert bound.status_code == 200, bound.text
    assert bound.json()["subject"] == "system:serviceaccount:team-a:reader"
    assert token not in bound.text

    allowed = await client.get(
        f"/api/runtime/pods/?cluster_id={cluster_id}&namespace=team-a", headers=user
    )
    assert allowed.status_code == 200, allowed.text
    pods = allowed.json()["pods"]
    assert [p["name"] for p in pods] == ["web-1"] and pods[0]["node"] == node
    # Elsewhere the cluster's RBAC says no, and that answer is passed through as 403.
    denied = await client.get(
        f"/api/runtime/pods/?cluster_id={cluster_id}&namespace=default", headers=user
    )
    assert denied.status_code == 403
    assert "system:serviceaccount:team-a:reader" in denied.json()["detail"]
    assert "cannot list resource" in denied.json()["detail"]
    nodes = await client.get(f"/api/runtime/nodes/?cluster_id={cluster_id}", headers=user)
    assert nodes.status_code == 403


async def test_admin_reads_nodes_pods_and_resources(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    created = await register(client, admin_headers, "resources", lab_cluster.kubeconfig)
    cluster_id = created.json()["data"]["id"]
    node = lab_cluster.nodes("worker")[1]["metadata"]["name"]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "res-test"}}
    lab_cluster.kubectl("apply", "-f", "-", input=json.dumps(namespace))
    for i in range(2):
        manifest = pod_manifest("res-test", f"r{i}", node)
        lab_cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    nodes = (
        await client.get(f"/api/runtime/nodes/?cluster_id={cluster_id}", headers=admin_headers)
    ).json()
    assert nodes["count"] == 4
    by_name = {n["name"]: n for n in nodes["nodes"]}
    assert by_name[node]["status"] == "ready" and by_name[node]["cpu_cores"] == 8
    assert sum("control-plane" in n["roles"] for n in nodes["nodes"]) == 1
    response = await client.get(
        f"/api/runtime/resources/?cluster_id={cluster_id}", headers=admin_headers
    )
    assert response.status_code == 200
    data = response.json()
    assert data["metrics_available"] is False
    assert data["total"]["used"] is None  # no metrics API: no invented numbers
    assert data["total"]["capacity"] == {"cpu": 32.0, "memory": 4 * 32 * 2**30}
    row = next(r for r in data["nodes"] if r["name"] == node)
    assert row["requested"]["cpu"] >= 0.5 and row["requested"]["memory"] >= 2 * 64 * 2**20
    assert row["used"] is None
    missing = await client.get("/api/runtime/nodes/?cluster_id=not-a-uuid", headers=admin_headers)
    assert missing.status_code == 422 and "cluster_id" in missing.json()["detail"]
    unknown = await client.get(
        "/api/runtime/nodes/?cluster_id=00000000-0000-4000-8000-000000000000",
        headers=admin_headers,
    )
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]
