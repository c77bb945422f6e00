"""Imports and backups are tracked runs: what a failed one shows, without a cluster to
reach (the lab tests cover the rest). The job's failure hook ends the run."""

from __future__ import annotations

import httpx

from taichu.clusters.service import NewCluster, insert_cluster, validated_access
from taichu.db.session import transaction
from tests.support.waiting import wait_for

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:9
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: not-a-real-token
contexts:
- name: c
  context: {cluster: nowhere, user: u}
current-context: c
"""


async def test_a_failed_import_ends_its_run_and_leaves_no_cluster(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    started = await client.post(
        "/api/v1/clusters/import",
        headers=admin_headers,
        json={
            "name": "nowhere",
            "kubeconfig": KUBECONFIG,
            "import_source": "manual",
            "insecure_skip_tls_verify": True,
        },
    )
    assert started.status_code == 200, started.text
    record = started.json()["data"]
    assert record["import_status"] == "pending"

    async def fetch() -> dict[str, object]:
        response = await client.get(f"/api/v1/imports/{record['id']}/status", headers=admin_headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    status = await wait_for(
        fetch, lambda s: s["import_status"] != "pending" and s["import_status"] != "in_progress", 60
    )
    assert status["import_status"] == "failed", status
    assert status["current_step"] == "Import failed"
    assert status["progress"] == 10  # where it stopped: connecting
    assert "cannot reach the API server" in status["error_message"]
    assert status["validation_results"]["api_server_reachable"] is False
    listed = await client.get(
        "/api/v1/clusters/imports", headers=admin_headers, params={"status": "failed"}
    )
    assert [i["id"] for i in listed.json()["data"]["imports"]] == [record["id"]]
    clusters = (await client.get("/api/v1/clusters", headers=admin_headers)).json()["data"]
    assert clusters["total"] == 0  # the pending cluster and its credentials are gone


async def test_a_failed_backup_ends_its_run_and_keeps_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    """The backup's job fails (its cluster went away after registration): the failure hook
    ends the run and drops what an unfinished archive would have left."""
    ctx = client._transport.app.state.ctx  # type: ignore[attr-defined]
    new = NewCluster(
        name="gone",
        description="",
        kubeconfig=KUBECONFIG,
        labels={},
        insecure_skip_tls_verify=True,
    )
    access = await validated_access(ctx, new, None)
    async with transaction(ctx.sessions) as session:
        cluster = await insert_cluster(
            session, ctx.box, new, access, source="manual", status="healthy", owner=None
        )
        cluster_id = cluster.id
    created = await client.post(
        f"/api/v1/clusters/{cluster_id}/backups",
        headers=admin_headers,
        json={"backup_name": "nightly", "backup_type": "full"},
    )
    assert created.status_code == 200, created.text
    backup_id = created.json()["data"]["id"]

    async def fetch() -> dict[str, object]:
        response = await client.get(
            f"/api/v1/clusters/{cluster_id}/backups/{backup_id}", headers=admin_headers
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    backup = await wait_for(fetch, lambda b: b["status"] not in ("pending", "in_progress"), 60)
    assert (backup["status"], backup["current_step"]) == ("failed", "Failed"), backup
    assert "no archive was kept" in backup["error_message"]
    assert backup["storage_location"] == "" and backup["completed_at"]
