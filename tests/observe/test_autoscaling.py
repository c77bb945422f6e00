"""Autoscaling: HPAs and a cluster-autoscaler found in a lab cluster, and the operator's
stored settings (PUT: validated, persisted, audited, admin or creator only)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from taichu.audit.models import AuditRecord
from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import wait_for
from tests.conftest import bearer, login
from tests.observe.helpers import app_ctx, deployment, get_data, namespace, registered

pytestmark = pytest.mark.lab

GOOD = {
    "enabled": True,
    "min_nodes": 2,
    "max_nodes": 8,
    "scale_up_threshold": 80,
    "scale_down_threshold": 40,
}


def hpa(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 2,
            "maxReplicas": 7,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


async def test_detects_hpas_and_cluster_autoscaler(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    path = f"/api/v1/clusters/{cid}/autoscaling-policies"
    empty = await get_data(client, admin_headers, path)
    assert empty["cluster_autoscaler_enabled"] is False and empty["cluster_autoscaler"] is None
    assert empty["enabled"] is False and empty["settings_source"] == "none"
    assert empty["min_nodes"] is None and empty["max_nodes"] is None
    assert empty["vpa_count"] == 0 and empty["vpa_crd_present"] is False
    assert "not installed" in empty["vpa_note"]

    with namespace(lab_cluster) as ns:
        lab_cluster.api.create(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web", 2))
        lab_cluster.api.create(
            f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", hpa("web", "web")
        )
        lab_cluster.api.create(
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            deployment(
                "cluster-autoscaler",
                1,
                command=[
                    "./cluster-autoscaler",
                    "--cloud-provider=clusterapi",
                    "--nodes=1:10:pool",
                    "--nodes",
                    "0:5:gpu-pool",
                    "--scale-down-utilization-threshold=0.35",
                ],
            ),
        )

        async def fetch() -> dict[str, Any]:
            return await get_data(client, admin_headers, path)

        data = await wait_for(
            fetch,
            lambda d: any(
                h["namespace"] == ns and h["current_replicas"] == 2 for h in d["hpa_policies"]
            ),
            timeout=60,
        )
        mine = next(h for h in data["hpa_policies"] if h["namespace"] == ns)
        assert mine == {
            "name": "web",
            "namespace": ns,
            "min_replicas": 2,
            "max_replicas": 7,
            "current_replicas": 2,
            "desired_replicas": mine["desired_replicas"],
            "target_kind": "Deployment",
            "target_name": "web",
        }
        assert data["hpa_count"] == len(data["hpa_policies"]) >= 1
        autoscaler = data["cluster_autoscaler"]
        assert data["cluster_autoscaler_enabled"] is True
        assert autoscaler["namespace"] == ns and autoscaler["name"] == "cluster-autoscaler"
        assert autoscaler["node_groups"] == [
            {"name": "pool", "min_nodes": 1, "max_nodes": 10},
            {"name": "gpu-pool", "min_nodes": 0, "max_nodes": 5},
        ]
        assert autoscaler["scale_down_utilization_threshold"] == 35
        # Nothing stored: the detected bounds fill in.
        assert data["settings_source"] == "detected" and data["enabled"] is True
        assert (data["min_nodes"], data["max_nodes"]) == (1, 15)
        assert data["scale_down_threshold"] == 35 and data["scale_up_threshold"] is None

        # Stored settings win over what is detected.
        put = await client.put(path, headers=admin_headers, json=GOOD)
        assert put.status_code == 200, put.text
        data = await get_data(client, admin_headers, path)
        assert data["settings_source"] == "stored"
        assert {k: data[k] for k in GOOD} == GOOD
        assert data["cluster_autoscaler_enabled"] is True


async def test_put_validates_persists_and_audits(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    path = f"/api/v1/clusters/{cid}/autoscaling-policies"
    for change, field in (
        ({"scale_down_threshold": 80}, "scale_down_threshold"),  # not below scale-up
        ({"scale_down_threshold": 0}, "scale_down_threshold"),
        ({"scale_up_threshold": 101}, "scale_up_threshold"),
        ({"min_nodes": 0}, "min_nodes"),
        ({"min_nodes": 9}, "min_nodes"),  # above max_nodes
    ):
        response = await client.put(path, headers=admin_headers, json={**GOOD, **change})
        assert response.status_code == 422, (change, response.text)
        assert response.json()["code"] == 422 and field in response.json()["message"]
    missing = await client.put(
        path, headers=admin_headers, json={k: v for k, v in GOOD.items() if k != "max_nodes"}
    )
    assert missing.status_code == 400 and "max_nodes" in missing.json()["message"]
    wrong = await client.put(path, headers=admin_headers, json={**GOOD, "min_nodes": "many"})
    assert wrong.status_code == 400

    first = await client.put(path, headers=admin_headers, json=GOOD)
    assert first.status_code == 200, first.text
    stored = first.json()["data"]
    assert {k: stored[k] for k in GOOD} == GOOD and stored["cluster_id"] == cid
    changed = {**GOOD, "enabled": False, "max_nodes": 20}
    second = await client.put(path, headers=admin_headers, json=changed)
    assert second.status_code == 200
    data = await get_data(client, admin_headers, path)
    assert {k: data[k] for k in GOOD} == changed

    async with app_ctx(client).sessions() as session:
        records = list(
            await session.scalars(
                select(AuditRecord)
                .where(
                    AuditRecord.cluster_id == cid,
                    AuditRecord.method == "PUT",
                    AuditRecord.status_code == 200,
                )
                .order_by(AuditRecord.seq)
            )
        )
    assert [r.old_value for r in records] == [None, GOOD]
    assert [r.new_value for r in records] == [GOOD, changed]
    assert records[-1].resource == "autoscaling_policy" and records[-1].user == "admin"

    # Another user may neither change nor read it (what is in a cluster is for its owner
    # and admins).
    assert (
        await client.post(
            "/api/v1/auth/register",
            json={
                "username": "viewer",
                "password": "Viewer-Pass-2026",
                "email": "v@example.com",
            },
        )
    ).status_code == 200
    viewer = bearer(await login(client, "viewer", "Viewer-Pass-2026"))
    refused = await client.put(path, headers=viewer, json=GOOD)
    assert refused.status_code == 403
    assert (await client.get(path, headers=viewer)).status_code == 403
    unknown = await client.put(
        "/api/v1/clusters/00000000-0000-4000-8000-000000000000/autoscaling-policies",
        headers=admin_headers,
        json=GOOD,
    )
    assert unknown.status_code == 404
