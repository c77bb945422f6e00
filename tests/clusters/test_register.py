"""Registering clusters by kubeconfig against the lab's real control planes."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
import yaml

from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import cluster_detail, register

pytestmark = pytest.mark.lab


async def test_register_list_detail_delete(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    created = await register(
        client,
        admin_headers,
        "prod-east",
        lab_cluster.kubeconfig,
        description="East production",
        labels={"env": "prod", "tier": "web"},
        environment_type="production",
    )
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert set(data) == {"id", "name", "description", "status", "created_at"}
    cluster_id = data["id"]
    detail = await cluster_detail(client, admin_headers, cluster_id)
    assert detail["status"] == "healthy"
    assert detail["version"] == detail["kubernetes_version"] == "v1.36.3"
    assert detail["node_count"] == len(lab_cluster.nodes()) == 4
    assert detail["total_cpu_cores"] == 32 and detail["total_memory_bytes"] == 4 * 32 * 2**30
    assert detail["api_server_url"] == lab_cluster.server
    assert detail["last_heartbeat_at"].endswith("Z")
    assert detail["provider"] == "太初" and detail["region"] == "default"
    for field in (
        "total_storage_bytes",
        "used_storage_bytes",
        "storage_usage_percent",
        "labels",
        "created_at",
        "updated_at",
        "description",
    ):
        assert field in detail
    assert "kubeconfig" not in str(detail)

    await register(
        client,
        admin_headers,
        "staging-1",
        lab_cluster.kubeconfig,
        labels={"env": "staging", "tier": "db"},
        environment_type="staging",
    )
    await register(
        client,
        admin_headers,
        "legacy-db",
        lab_cluster.kubeconfig,
        labels={"env": "prod", "tier": "db", "legacy": "yes"},
        description="old database hosts",
    )

    async def names(query: str) -> list[str]:
        response = await client.get(f"/api/v1/clusters?{query}", headers=admin_headers)
        assert response.status_code == 200, response.text
        body = response.json()["data"]
        assert body["total"] == len(body["clusters"]) and body["page"] == 1
        return sorted(c["name"] for c in body["clusters"])

    assert await names("") == ["legacy-db", "prod-east", "staging-1"]
    assert await names("label_selector=env=prod") == ["legacy-db", "prod-east"]
    assert await names("label_selector=env=prod,tier!=db") == ["prod-east"]
    assert await names("label_selector=env in (staging,dev)") == ["staging-1"]
    assert await names("label_selector=!legacy,tier=db") == ["staging-1"]
    assert await names("search=DATABASE") == ["legacy-db"]
    assert await names("search=%25") == await names("search=_") == []  # literal, not LIKE
    assert await names("status=healthy") == ["legacy-db", "prod-east", "staging-1"]
    assert await names("status=disconnected") == []
    listed = (await client.get("/api/v1/clusters", headers=admin_headers)).json()["data"]
    item = listed["clusters"][0]
    assert {
        "id",
        "name",
        "description",
        "status",
        "provider",
        "region",
        "version",
        "kubernetes_version",
        "node_count",
        "labels",
        "created_at",
        "updated_at",
    } <= set(item)
    bad = await client.get("/api/v1/clusters?label_selector=env in (a", headers=admin_headers)
    assert bad.status_code == 422 and "label_selector" in bad.json()["message"]

    topology = (await client.get("/api/v1/clusters/topology", headers=admin_headers)).json()
    environments = {e["type"]: e for e in topology["data"]["environments"]}
    assert environments["production"]["count"] == 1
    assert environments["production"]["total_node_count"] == 4
    assert environments["production"]["clusters"][0]["version"] == "v1.36.3"
    assert topology["data"]["summary"] == {
        "total_clusters": 3,
        "total_environments": 3,
        "total_nodes": 12,
        "healthy_clusters": 3,
    }

    deleted = await client.delete(f"/api/v1/clusters/{cluster_id}", headers=admin_headers)
    assert deleted.status_code == 200 and deleted.json()["data"] == {"message": "Cluster deleted"}
    gone = await client.get(f"/api/v1/clusters/{cluster_id}", headers=admin_headers)
    assert gone.status_code == 404 and gone.json()["code"] == 404


async def test_duplicate_name_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    first = await register(client, admin_headers, "twin", lab_cluster.kubeconfig)
    assert first.status_code == 200
    again = await register(client, admin_headers, "twin", lab_cluster.kubeconfig)
    assert again.status_code == 409 and "twin" in again.json()["message"]


def _mutate(kubeconfig: str, change: Any) -> str:
    doc = yaml.safe_load(kubeconfig)
    change(doc)
    return yaml.safe_dump(doc)


def _exec_user(doc: dict[str, Any]) -> None:
    doc["users"][0]["user"] = {"exec": {"command": "/bin/sh", "apiVersion": "v1"}}


def _file_ref(doc: dict[str, Any]) -> None:
    doc["users"][0]["user"] = {"token-file": "/etc/shadow"}


def _ca_path(doc: dict[str, Any]) -> None:
    cluster = doc["clusters"][0]["cluster"]
    cluster.pop("certificate-authority-data")
    cluster["certificate-authority"] = "/etc/ssl/ca.pem"


def _closed_port(doc: dict[str, Any]) -> None:
    doc["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"


def _no_clusters(doc: dict[str, Any]) -> None:
    doc["clusters"] = []


@pytest.mark.parametrize(
    ("label", "change", "fragment"),
    [
        ("exec plugin", _exec_user, "exec"),
        ("file reference", _file_ref, "token-file"),
        ("CA path", _ca_path, "certificate-authority"),
        ("no clusters", _no_clusters, "cluster"),
        ("unreachable", _closed_port, "127.0.0.1:9"),
    ],
)
async def test_bad_kubeconfigs_are_422_and_nothing_stored(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
    label: str,
    change: Any,
    fragment: str,
) -> None:
    response = await register(client, admin_headers, "bad", _mutate(lab_cluster.kubeconfig, change))
    assert response.status_code == 422, (label, response.text)
    assert fragment in response.json()["message"], label
    listed = (await client.get("/api/v1/clusters", headers=admin_headers)).json()["data"]
    assert listed["total"] == 0


async def test_not_yaml_and_wrong_ca(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
    lab_cluster_factory: Any,
) -> None:
    not_yaml = await register(client, admin_headers, "junk", "::: not: [yaml")
    assert not_yaml.status_code == 422 and "YAML" in not_yaml.json()["message"]
    other = lab_cluster_factory(workers=0, control_planes=0)
    foreign_ca = base64.b64encode(other.ca_pem).decode()

    def wrong_ca(doc: dict[str, Any]) -> None:
        doc["clusters"][0]["cluster"]["certificate-authority-data"] = foreign_ca

    response = await register(
        client, admin_headers, "wrong-ca", _mutate(lab_cluster.kubeconfig, wrong_ca)
    )
    assert response.status_code == 422
    assert "TLS" in response.json()["message"] or "certificate" in response.json()["message"]
    listed = (await client.get("/api/v1/clusters", headers=admin_headers)).json()["data"]
    assert listed["total"] == 0


async def test_cluster_audit_covers_what_was_done(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    created = await register(client, admin_headers, "audited", lab_cluster.kubeconfig)
    cluster_id = created.json()["data"]["id"]
    await register(client, admin_headers, "audited", lab_cluster.kubeconfig)  # 409, audited
    response = await client.get(f"/api/v1/clusters/{cluster_id}/audit", headers=admin_headers)
    assert response.status_code == 200
    events = response.json()["data"]["events"]
    assert [(e["event_type"], e["action"], e["result"]) for e in events] == [
        ("cluster", "create", "success")
    ]
    assert events[0]["new_value"]["name"] == "audited"
    assert "kubeconfig" not in str(events[0]["new_value"]) or "***" in str(events[0])
    filtered = await client.get(
        f"/api/v1/clusters/{cluster_id}/audit?action=delete", headers=admin_headers
    )
    assert filtered.json()["data"]["events"] == []
