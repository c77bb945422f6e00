"""The backup API: validation (400 malformed, 422 rule, naming the field), one backup or
restore per cluster at a time (409), deletion, permissions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from taichu.backups.models import Backup
from taichu.config import JobSettings, Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.lab.cluster import LabCluster
from taichu.timeutil import utcnow
from tests.backups.helpers import (
    add_cluster,
    backup_done,
    get_backup,
    restore_done,
)
from tests.backups.workload import install
from tests.clusters.helpers import wait_for
from tests.conftest import bearer, login

pytestmark = [pytest.mark.lab]


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: Any
) -> httpx.Response:
    return await client.post(f"/api/v1{path}", headers=headers, json=body)


async def test_backup_requests_are_validated(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
) -> None:
    cid = await add_cluster(client, admin_headers, lab_cluster, "validated")
    path = f"/clusters/{cid}/backups"
    good = {"backup_name": "b1", "backup_type": "full", "retention_days": 30}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"backup_type": "full"}, 400, "backup_name"),
        ({**good, "retention_days": "soon"}, 400, "retention_days"),
        ({**good, "surprise": 1}, 400, "surprise"),
        ({**good, "backup_type": "weekly"}, 422, "backup_type"),
        ({**good, "retention_days": -1}, 422, "retention_days"),
        ({**good, "backup_name": "no spaces"}, 422, "backup_name"),
        ({**good, "backup_type": "etcd"}, 422, "not available for this cluster"),
        ({**good, "backup_type": "namespaces"}, 422, "included_namespaces"),
        ({**good, "included_namespaces": ["Bad_Name"]}, 422, "included_namespaces"),
        ({**good, "included_namespaces": ["a", "a"]}, 422, "included_namespaces"),
        ({**good, "label_selector": "app in (a"}, 422, "label_selector"),
    ]
    for body, status, field in cases:
        response = await _post(client, admin_headers, path, body)
        assert response.status_code == status, (body, response.text)
        payload = response.json()
        assert payload["code"] == status and field in payload["message"], (body, payload)
    missing = await _post(client, admin_headers, "/clusters/nope/backups", good)
    assert missing.status_code == 404
    for query, status in (("status=bogus", 422), ("page=0", 422), ("limit=x", 400)):
        response = await client.get(f"/api/v1{path}?{query}", headers=admin_headers)
        assert response.status_code == status, (query, response.text)
    response = await client.get(
        f"/api/v1{path}/00000000-0000-4000-8000-000000000000", headers=admin_headers
    )
    assert response.status_code == 404
    listed = await client.get(f"/api/v1{path}", headers=admin_headers)
    assert listed.json()["data"] == {"backups": [], "total": 0, "page": 1, "limit": 20}


async def test_a_backup_and_a_restore_of_one_cluster_never_run_at_once(
    start_app: Any,
    make_settings: Any,
    lab_cluster: LabCluster,
    ctx: AppContext,
) -> None:
    # No job runner: what is queued stays queued, so the conflicts are deterministic.
    client = await start_app(make_settings(jobs=JobSettings(enabled=False)))
    headers = bearer(await login(client, "admin", "Admin-Pass-2026"))
    cid = await add_cluster(client, headers, lab_cluster, "busy")
    other = await add_cluster(client, headers, lab_cluster, "other")
    first = await _post(
        client, headers, f"/clusters/{cid}/backups", {"backup_name": "first", "backup_type": "full"}
    )
    assert first.status_code == 200 and first.json()["data"]["status"] == "pending"
    second = await _post(
        client,
        headers,
        f"/clusters/{cid}/backups",
        {"backup_name": "second", "backup_type": "full"},
    )
    assert second.status_code == 409 and "still running" in second.json()["message"]
    async with transaction(ctx.sessions) as session:  # a finished backup to restore from
        done = Backup(
            cluster_id=cid,
            cluster_name="busy",
            backup_name="done",
            backup_type="full",
            status="completed",
            completed_at=utcnow(),
        )
        session.add(done)
    restore_path = f"/clusters/{cid}/backups/{done.id}/restore"
    refused = await _post(client, headers, restore_path, {"restore_name": "r"})
    assert refused.status_code == 409
    # Restoring into another cluster is not held up by this one's backup.
    elsewhere = await _post(
        client, headers, restore_path, {"restore_name": "r", "target_cluster_id": other}
    )
    assert elsewhere.status_code == 200, elsewhere.text
    assert (
        await _post(
            client,
            headers,
            f"/clusters/{other}/backups",
            {"backup_name": "x", "backup_type": "full"},
        )
    ).status_code == 409

    cancelled = await client.post(
        f"/api/v1/clusters/{cid}/backups/{first.json()['data']['id']}/cancel", headers=headers
    )
    assert cancelled.json()["data"]["status"] == "cancelled"
    again = await _post(client, headers, restore_path, {"restore_name": "r2"})
    assert again.status_code == 200, again.text
    body = again.json()["data"]
    assert body["status"] == "pending" and body["target_cluster_id"] == cid
    assert body["start_time"] is None and body["estimated_time"] is None
    assert (
        await _post(
            client,
            headers,
            f"/clusters/{cid}/backups",
            {"backup_name": "third", "backup_type": "full"},
        )
    ).status_code == 409

    bad = [
        ({"restore_name": "r", "target_cluster_id": "nope"}, 422, "target_cluster_id"),
        ({"restore_name": "r", "existing_policy": "merge"}, 422, "existing_policy"),
        ({"restore_name": "r", "namespace_mapping": {"a": "B!"}}, 422, "namespace_mapping"),
        (
            {"restore_name": "r", "namespace_mapping": {"a": "x", "b": "x"}},
            422,
            "namespace_mapping",
        ),
        (
            {"restore_name": "r", "included_namespaces": ["a"], "namespace_mapping": {"b": "c"}},
            422,
            "namespace_mapping",
        ),
        ({}, 400, "restore_name"),
    ]
    for request, status, field in bad:
        response = await _post(client, headers, restore_path, request)
        assert response.status_code == status and field in response.json()["message"], (
            request,
            response.text,
        )
    pending = first.json()["data"]["id"]
    not_done = await _post(
        client, headers, f"/clusters/{cid}/backups/{pending}/restore", {"restore_name": "r"}
    )
    assert not_done.status_code == 422 and "only a completed backup" in not_done.text


async def test_deleting_a_backup_removes_its_archive(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
    settings: Settings,
) -> None:
    cid = await add_cluster(client, admin_headers, lab_cluster, "deleting")
    install(lab_cluster, ["del-me"])
    backup = await backup_done(
        client,
        admin_headers,
        cid,
        backup_name="gone-soon",
        backup_type="namespaces",
        included_namespaces=["del-me"],
    )
    archive = Path(backup["storage_location"])
    assert await asyncio.to_thread(archive.is_file)
    assert archive.is_relative_to(settings.data_dir / "backups")
    dry = await restore_done(
        client, admin_headers, cid, backup["id"], dry_run=True, restore_name="dry"
    )
    # Both exist (settings, kube-root-ca.crt): skipped, nothing changed.
    assert dry["counts"]["ConfigMap"] == {
        "created": 0,
        "updated": 0,
        "skipped": 2,
        "failed": 0,
        "restored": 0,
    }

    path = f"/api/v1/clusters/{cid}/backups/{backup['id']}"
    deleted = await client.delete(path, headers=admin_headers)
    assert deleted.status_code == 200 and deleted.json()["data"]["status"] == "deleted"
    await wait_for(lambda: asyncio.to_thread(archive.exists), lambda exists: not exists, 30)
    again = await client.delete(path, headers=admin_headers)
    assert again.status_code == 200 and again.json()["data"]["status"] == "deleted"
    listed = await client.get(
        f"/api/v1/clusters/{cid}/backups?status=deleted", headers=admin_headers
    )
    assert [b["id"] for b in listed.json()["data"]["backups"]] == [backup["id"]]
    assert set(listed.json()["data"]["backups"][0]) == {
        "id",
        "cluster_id",
        "backup_name",
        "backup_type",
        "status",
        "storage_location",
        "storage_size_bytes",
        "snapshot_timestamp",
        "created_at",
        "completed_at",
    }
    refused = await _post(
        client,
        admin_headers,
        f"/clusters/{cid}/backups/{backup['id']}/restore",
        {"restore_name": "late"},
    )
    assert refused.status_code == 422
    assert (await get_backup(client, admin_headers, cid, backup["id"]))["deleted_at"]


async def test_only_an_admin_or_the_clusters_owner_backs_it_up(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
) -> None:
    cid = await add_cluster(client, admin_headers, lab_cluster, "owned")
    registered = await client.post(
        "/api/v1/auth/register",
        json={"username": "viewer", "email": "viewer@example.com", "password": "Viewer-Pass-1"},
    )
    assert registered.status_code == 200, registered.text
    viewer = bearer(await login(client, "viewer", "Viewer-Pass-1"))
    refused = await _post(
        client, viewer, f"/clusters/{cid}/backups", {"backup_name": "b", "backup_type": "full"}
    )
    assert refused.status_code == 403
    listed = await client.get(f"/api/v1/clusters/{cid}/backups", headers=viewer)
    assert listed.status_code == 403  # what is in a cluster is its owner's (and admins')
    schedules = await _post(
        client,
        viewer,
        f"/clusters/{cid}/backup-schedules",
        {"name": "s", "cron_expression": "0 2 * * *"},
    )
    assert schedules.status_code == 403
    unauthenticated = await client.get(f"/api/v1/clusters/{cid}/backups")
    assert unauthenticated.status_code == 401
