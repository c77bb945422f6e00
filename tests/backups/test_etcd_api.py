"""A cluster the platform did not create (registered from a kubeconfig: a lab cluster) has
no machines to reach: etcd snapshots, their schedules and certificate renewal are refused
with 422 naming why, and its detail shows no certificates."""

from __future__ import annotations

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from tests.backups.helpers import add_cluster

pytestmark = [pytest.mark.lab]


async def test_clusters_without_machines_have_no_etcd_snapshots_or_certificates(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await add_cluster(client, admin_headers, lab_cluster, "registered")
    snapshot = {"backup_name": "e1", "backup_type": "etcd", "retention_days": 1}
    cases = [
        (f"/api/v1/clusters/{cid}/backups", snapshot, "not available for this cluster"),
        (
            f"/api/v1/clusters/{cid}/backup-schedules",
            {"name": "s", "cron_expression": "0 2 * * *", "backup_type": "etcd"},
            "not available for this cluster",
        ),
        (f"/api/v1/clusters/{cid}/certificates/renew", None, "certificates: cluster registered"),
    ]
    for path, body, says in cases:
        response = await client.post(path, headers=admin_headers, json=body)
        assert response.status_code == 422, (path, response.text)
        payload = response.json()
        assert payload["code"] == 422 and payload["data"] is None
        assert says in payload["message"], payload
    certs = await client.get(f"/api/v1/clusters/{cid}/certificates", headers=admin_headers)
    assert certs.status_code == 422 and "no machines the platform reaches" in certs.text
    detail = await client.get(f"/api/v1/clusters/{cid}", headers=admin_headers)
    assert detail.status_code == 200 and detail.json()["data"]["certificates"] is None
    listed = await client.get(f"/api/v1/clusters/{cid}/backups", headers=admin_headers)
    assert listed.json()["data"]["total"] == 0  # nothing stored on failure
    missing = await client.post(
        "/api/v1/clusters/00000000-0000-4000-8000-000000000000/certificates/renew",
        headers=admin_headers,
    )
    assert missing.status_code == 404
