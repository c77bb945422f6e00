"""Backup schedules: CRUD and validation, firing once however often the tick runs, the
periodic tick creating real backups, and retention deleting expired ones."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from taichu.backups import schedules
from taichu.backups.jobs import expire_backups
from taichu.backups.models import Backup, BackupSchedule
from taichu.config import BackupSettings, JobSettings, Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.lab.cluster import LabCluster
from taichu.timeutil import utcnow
from tests.backups.helpers import add_cluster, backup_done, get_backup, wait_backup
from tests.backups.workload import install
from tests.clusters.helpers import wait_for
from tests.conftest import bearer, login

pytestmark = [pytest.mark.lab]


async def test_schedule_crud_and_validation(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
) -> None:
    cid = await add_cluster(client, admin_headers, lab_cluster, "scheduled")
    base = f"/api/v1/clusters/{cid}/backup-schedules"
    for body, status, field in [
        ({"name": "s", "cron_expression": "61 * * * *"}, 422, "cron_expression"),
        ({"name": "s", "cron_expression": "0 0 2 * * *"}, 422, "cron_expression"),
        (
            {"name": "s", "cron_expression": "0 2 * * *", "backup_type": "etcd"},
            422,
            "not available",
        ),
        (
            {"name": "s", "cron_expression": "0 2 * * *", "backup_type": "namespaces"},
            422,
            "included_namespaces",
        ),
        ({"cron_expression": "0 2 * * *"}, 400, "name"),
        ({"name": "s", "cron_expression": "0 2 * * *", "enabled": "maybe"}, 400, "enabled"),
    ]:
        response = await client.post(base, headers=admin_headers, json=body)
        assert response.status_code == status and field in response.json()["message"], (
            body,
            response.text,
        )

    created = await client.post(
        base,
        headers=admin_headers,
        json={
            "name": "nightly",
            "cron_expression": "0 2 * * *",
            "backup_type": "namespaces",
            "included_namespaces": ["a"],
            "retention_days": 14,
        },
    )
    assert created.status_code == 200, created.text
    schedule = created.json()["data"]
    assert schedule["next_run_at"].endswith("T02:00:00Z") and schedule["last_run_at"] is None
    assert schedule["options"]["included_namespaces"] == ["a"]
    duplicate = await client.post(
        base, headers=admin_headers, json={"name": "nightly", "cron_expression": "@daily"}
    )
    assert duplicate.status_code == 409 and "name" in duplicate.json()["message"]

    item = f"{base}/{schedule['id']}"
    paused = await client.put(item, headers=admin_headers, json={"enabled": False})
    assert paused.json()["data"]["next_run_at"] is None
    resumed = await client.put(
        item,
        headers=admin_headers,
        json={"enabled": True, "cron_expression": "30 * * * *", "backup_type": "full"},
    )
    data = resumed.json()["data"]
    assert data["next_run_at"].endswith(":30:00Z") and data["backup_type"] == "full"
    bad = await client.put(item, headers=admin_headers, json={"cron_expression": "nope"})
    assert bad.status_code == 422
    listed = await client.get(base, headers=admin_headers)
    assert [s["name"] for s in listed.json()["data"]["schedules"]] == ["nightly"]
    assert (await client.delete(item, headers=admin_headers)).status_code == 200
    assert (await client.get(item, headers=admin_headers)).status_code == 404


async def test_a_due_schedule_fires_once_however_often_the_tick_runs(
    start_app: Any,
    make_settings: Any,
    lab_cluster: LabCluster,
    ctx: AppContext,
) -> None:
    settings: Settings = make_settings(jobs=JobSettings(enabled=False))
    client = await start_app(settings)
    headers = bearer(await login(client, "admin", "Admin-Pass-2026"))
    cid = await add_cluster(client, headers, lab_cluster, "ticking")
    created = await client.post(
        f"/api/v1/clusters/{cid}/backup-schedules",
        headers=headers,
        json={"name": "often", "cron_expression": "*/5 * * * *"},
    )
    schedule_id = created.json()["data"]["id"]
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(BackupSchedule).values(next_run_at=utcnow() - timedelta(minutes=1))
        )

    async def tick(now: datetime) -> int:
        async with transaction(ctx.sessions) as session:
            return await schedules.fire_due(session, settings, now)

    # Three replicas' ticks at the same moment. (The next run is due after `now`: a later
    # clock may already be past it when the cron's next minute is near.)
    now = utcnow()
    fired = await asyncio.gather(tick(now), tick(now), tick(now))
    assert sorted(fired) == [0, 0, 1]
    async with transaction(ctx.sessions) as session:
        backups = list(await session.scalars(select(Backup)))
        schedule = await session.get(BackupSchedule, schedule_id)
        assert schedule is not None
    assert len(backups) == 1 and backups[0].schedule_id == schedule_id
    assert backups[0].backup_name.startswith("often-") and backups[0].status == "pending"
    assert schedule.last_backup_id == backups[0].id and schedule.next_run_at > now

    # Due again while its first backup still holds the cluster: this run is skipped.
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(BackupSchedule).values(next_run_at=utcnow() - timedelta(seconds=1))
        )
    now = utcnow()
    assert await tick(now) == 0
    async with transaction(ctx.sessions) as session:
        schedule = await session.get(BackupSchedule, schedule_id)
        assert schedule is not None and "run skipped" in schedule.last_error
        assert schedule.next_run_at > now


async def test_the_periodic_tick_backs_up_and_retention_deletes_expired_backups(
    start_app: Any,
    make_settings: Any,
    lab_cluster: LabCluster,
    ctx: AppContext,
) -> None:
    settings = make_settings(backups=BackupSettings(schedule_interval_seconds=0.5))
    client = await start_app(settings)
    headers = bearer(await login(client, "admin", "Admin-Pass-2026"))
    cid = await add_cluster(client, headers, lab_cluster, "periodic")
    install(lab_cluster, ["sched-ns"])
    created = await client.post(
        f"/api/v1/clusters/{cid}/backup-schedules",
        headers=headers,
        json={
            "name": "tick",
            # Twelve hours away: the cron itself never fires during the test (only the
            # next_run_at set below does), whatever time of day the suite runs.
            "cron_expression": f"0 {(utcnow().hour + 12) % 24} * * *",
            "backup_type": "namespaces",
            "retention_days": 2,
            "included_namespaces": ["sched-ns"],
        },
    )
    schedule_id = created.json()["data"]["id"]
    async with transaction(ctx.sessions) as session:
        await session.execute(
            update(BackupSchedule).values(next_run_at=utcnow() - timedelta(seconds=5))
        )

    async def last_backup() -> str | None:
        response = await client.get(
            f"/api/v1/clusters/{cid}/backup-schedules/{schedule_id}", headers=headers
        )
        return response.json()["data"]["last_backup_id"]

    backup_id = await wait_for(last_backup, lambda b: b is not None, 30)
    backup = await wait_backup(client, headers, cid, backup_id)
    assert backup["status"] == "completed" and backup["retention_days"] == 2
    assert backup["expires_at"] is not None
    archive = Path(backup["storage_location"])
    other = await backup_done(
        client,
        headers,
        cid,
        backup_name="keeper",
        retention_days=0,
        backup_type="namespaces",
        included_namespaces=["sched-ns"],
    )
    assert other["expires_at"] is None  # 0: kept until deleted

    async with transaction(ctx.sessions) as session:
        await expire_backups(session, utcnow() + timedelta(days=2, minutes=1))
    await wait_for(lambda: asyncio.to_thread(archive.exists), lambda exists: not exists, 30)
    expired = await get_backup(client, headers, cid, backup_id)
    assert expired["status"] == "deleted" and expired["current_step"].startswith("Expired")
    assert (await get_backup(client, headers, cid, other["id"]))["status"] == "completed"
