"""Helpers of the backup tests: registering lab clusters, waiting for records, and taking
comparable snapshots of what a cluster holds."""

from __future__ import annotations

import json
from typing import Any

import httpx

from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import register, wait_for

FINISHED = ("completed", "failed", "cancelled")
# What a restore may legitimately change: server-assigned and bookkeeping fields.
_VOLATILE_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "ownerReferences",
    "selfLink",
)
_VOLATILE_ANNOTATIONS = ("taichu.io/restored-by", "deployment.kubernetes.io/revision")


async def add_cluster(
    client: httpx.AsyncClient, headers: dict[str, str], lab: LabCluster, name: str
) -> str:
    response = await register(client, headers, name, lab.kubeconfig)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


async def create_backup(
    client: httpx.AsyncClient, headers: dict[str, str], cluster_id: str, **body: Any
) -> dict[str, Any]:
    body.setdefault("backup_type", "full")
    body.setdefault("retention_days", 7)
    response = await client.post(
        f"/api/v1/clusters/{cluster_id}/backups", headers=headers, json=body
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def get_backup(
    client: httpx.AsyncClient, headers: dict[str, str], cluster_id: str, backup_id: str
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/clusters/{cluster_id}/backups/{backup_id}", headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def wait_backup(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    cluster_id: str,
    backup_id: str,
    timeout: float = 120,
) -> dict[str, Any]:
    return dict(
        await wait_for(
            lambda: get_backup(client, headers, cluster_id, backup_id),
            lambda b: b["status"] in FINISHED,
            timeout,
        )
    )


async def backup_done(
    client: httpx.AsyncClient, headers: dict[str, str], cluster_id: str, **body: Any
) -> dict[str, Any]:
    created = await create_backup(client, headers, cluster_id, **body)
    backup = await wait_backup(client, headers, cluster_id, created["id"])
    assert backup["status"] == "completed", backup
    return backup


async def start_restore(
    client: httpx.AsyncClient, headers: dict[str, str], cluster_id: str, backup_id: str, **body: Any
) -> dict[str, Any]:
    body.setdefault("restore_name", "r1")
    response = await client.post(
        f"/api/v1/clusters/{cluster_id}/backups/{backup_id}/restore", headers=headers, json=body
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def get_restore(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    cluster_id: str,
    backup_id: str,
    restore_id: str,
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/clusters/{cluster_id}/backups/{backup_id}/restore/{restore_id}", headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def restore_done(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    cluster_id: str,
    backup_id: str,
    timeout: float = 180,
    **body: Any,
) -> dict[str, Any]:
    started = await start_restore(client, headers, cluster_id, backup_id, **body)
    return dict(
        await wait_for(
            lambda: get_restore(client, headers, cluster_id, backup_id, started["restore_id"]),
            lambda r: r["status"] in FINISHED,
            timeout,
        )
    )


def kubectl_json(lab: LabCluster, *args: str) -> dict[str, Any]:
    return dict(json.loads(lab.kubectl("get", *args, "-o", "json").stdout))


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what a restore rightly changes (uids, versions, allocations)."""
    obj = json.loads(json.dumps(obj))
    obj.pop("status", None)
    metadata = obj.get("metadata", {})
    for key in _VOLATILE_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    for key in _VOLATILE_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        metadata.pop("annotations", None)
    if obj.get("kind") == "Service":
        spec = obj.get("spec", {})
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
    return obj


def snapshot(
    lab: LabCluster, namespaces: list[str], kinds: str, namespace_of: dict[str, str] | None = None
) -> dict[tuple[str, str, str], Any]:
    """Objects of `kinds` in `namespaces`, keyed by (kind, namespace, name); with
    `namespace_of`, keys use the source namespace of a mapped target namespace."""
    found: dict[tuple[str, str, str], Any] = {}
    for namespace in namespaces:
        for item in kubectl_json(lab, kinds, "-n", namespace)["items"]:
            md = item["metadata"]
            if md["name"] == "kube-root-ca.crt" or (
                item["kind"] == "ServiceAccount" and md["name"] == "default"
            ):
                continue
            source = (namespace_of or {}).get(namespace, namespace)
            obj = comparable(item)
            obj["metadata"]["namespace"] = source
            found[(item["kind"], source, md["name"])] = obj
    return found
