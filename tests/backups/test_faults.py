"""Faults: the API server dies in the middle of a backup; an archive is tampered with or
cut short before a restore."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from taichu.backups.s3 import S3Client, S3Config
from taichu.config import BackupSettings, JobSettings, Settings
from taichu.lab.cluster import LabCluster
from taichu.lab.pytest_fixtures import ClusterFactory
from tests.backups.conftest import both_backends
from tests.backups.helpers import (
    add_cluster,
    backup_done,
    create_backup,
    get_backup,
    get_restore,
    restore_done,
    start_restore,
    wait_backup,
)
from tests.backups.workload import fill, install, wait_gone
from tests.clusters.helpers import wait_for
from tests.conftest import ADMIN_PASSWORD, bearer, login

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _s3(settings: Settings) -> S3Client:
    cfg = settings.backups
    return S3Client(
        S3Config(
            cfg.s3_endpoint or "",
            cfg.s3_region,
            cfg.s3_access_key_id or "",
            cfg.s3_secret_access_key or "",
        )
    )


async def _stored(settings: Settings, key: str) -> list[str]:
    """Everything the backup storage holds: files, or objects and unfinished uploads of
    the archive's key (MinIO lists uploads by exact key only)."""
    if settings.backups.storage == "local":
        root = settings.data_dir / "backups"
        return await asyncio.to_thread(
            lambda: [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []
        )
    client = _s3(settings)
    try:
        bucket = settings.backups.s3_bucket or ""
        uploads = await client.list_multipart(bucket, key)
        return await client.list_keys(bucket, "") + [f"upload:{k}" for k, _ in uploads]
    finally:
        await client.close()


@both_backends
async def test_api_server_stopped_mid_backup_fails_it_and_leaves_no_archive(
    start_app: Any,
    make_settings: Any,
    settings: Settings,
    lab_cluster_factory: ClusterFactory,
) -> None:
    # Small pages, one listing at a time: the backup takes seconds, not milliseconds.
    slow = settings.backups.model_copy(update={"list_page_size": 2, "list_concurrency": 1})
    settings = make_settings(backups=slow)
    client = await start_app(settings)
    admin_headers = bearer(await login(client, "admin", ADMIN_PASSWORD))
    lab = lab_cluster_factory(workers=1)
    cluster_id = await add_cluster(client, admin_headers, lab, "dies")
    # ~12 MB of incompressible data: on S3 a multipart upload is under way when it dies.
    await fill(lab, ["big-1", "big-2"], 2000, payload_bytes=3000)

    created = await create_backup(client, admin_headers, cluster_id, backup_name="doomed")
    key = f"taichu-backups/{cluster_id}/{created['id']}.tbk"

    async def under_way() -> bool:
        """Listing has begun (progress is reported about once a second) and, on S3, the
        multipart upload whose abort is tested has started."""
        if settings.backups.storage != "s3":
            return True
        return any(k.startswith("upload:") for k in await _stored(settings, key))

    deadline = asyncio.get_running_loop().time() + 120
    while True:
        running = await get_backup(client, admin_headers, cluster_id, created["id"])
        if running["status"] not in ("pending", "in_progress"):
            break
        if running["status"] == "in_progress" and running["items_done"] > 0 and (await under_way()):
            break
        assert asyncio.get_running_loop().time() < deadline, running
        await asyncio.sleep(0.05)
    assert running["status"] == "in_progress", running
    lab.stop_apiserver()
    backup = await wait_backup(client, admin_headers, cluster_id, created["id"])
    assert backup["status"] == "failed", backup
    message = backup["error_message"]
    assert message.startswith("backup failed while listing resources: "), message
    assert lab.server in message and "no archive was kept" in message
    assert backup["storage_location"] == "" and backup["storage_size_bytes"] == 0
    assert await _stored(settings, key) == []


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@both_backends
async def test_tampered_archive_is_refused_before_anything_is_applied(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    lab_cluster: LabCluster,
    damage: str,
) -> None:
    ns = f"tamper-{damage}-{settings.backups.storage}"
    cluster_id = await add_cluster(client, admin_headers, lab_cluster, ns)
    install(lab_cluster, [ns])
    backup = await backup_done(
        client,
        admin_headers,
        cluster_id,
        backup_name="b",
        backup_type="namespaces",
        included_namespaces=[ns],
    )
    location = backup["storage_location"]
    if location.startswith("s3://"):
        bucket, key = location.removeprefix("s3://").split("/", 1)
        s3 = _s3(settings)
        data = b"".join([d async for d in s3.get_object(bucket, key)])
    else:
        data = await asyncio.to_thread(Path(location).read_bytes)
    if damage == "flip":
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
    else:
        data = data[: len(data) - 100]
    if location.startswith("s3://"):
        await s3.put_object(bucket, key, data)
        await s3.close()
    else:
        await asyncio.to_thread(Path(location).write_bytes, data)
    lab_cluster.kubectl("delete", "namespace", ns, "--wait=false")
    wait_gone(lab_cluster, "namespace", ns)

    restore = await restore_done(client, admin_headers, cluster_id, backup["id"])
    assert restore["status"] == "failed"
    message = restore["error_message"]
    assert message.startswith("backup archive failed verification: "), message
    assert message.endswith("nothing was restored")
    assert (
        ("truncated" in message)
        if damage == "truncate"
        else ("modified" in message or "corrupted" in message)
    ), message
    assert restore["items_done"] == 0 and restore["counts"] == {}
    assert (
        lab_cluster.kubectl("get", "namespace", ns, "--ignore-not-found", "-o", "name").stdout == ""
    )


async def test_target_api_server_down_mid_restore_is_resumed_by_the_retry(
    start_app: Any,
    make_settings: Any,
    lab_cluster_factory: ClusterFactory,
) -> None:
    # Two creates at a time: slow enough to stop the target in the middle. The restore has
    # three attempts: retries 10 s and 20 s after a failure give the target's API server
    # half a minute to come back, however slow its restart on a loaded machine.
    client = await start_app(
        make_settings(
            jobs=JobSettings(retry_base_seconds=10.0), backups=BackupSettings(restore_concurrency=2)
        )
    )
    headers = bearer(await login(client, "admin", "Admin-Pass-2026"))
    source, target = lab_cluster_factory(workers=1), lab_cluster_factory(workers=1)
    source_id = await add_cluster(client, headers, source, "from")
    target_id = await add_cluster(client, headers, target, "into")
    await fill(source, ["again-1", "again-2"], 600)
    backup = await backup_done(
        client,
        headers,
        source_id,
        backup_name="b",
        backup_type="namespaces",
        included_namespaces=["again-1", "again-2"],
    )
    started = await start_restore(
        client, headers, source_id, backup["id"], target_cluster_id=target_id
    )

    def fetch() -> Any:
        return get_restore(client, headers, source_id, backup["id"], started["restore_id"])

    await wait_for(
        fetch, lambda r: r["items_done"] >= 0.3 * max(r["items_total"], 1), 120, interval=0.1
    )
    await asyncio.to_thread(target.stop_apiserver)
    interrupted = await wait_for(
        fetch,
        lambda r: r["current_step"].startswith("Interrupted") or r["status"] != "in_progress",
        60,
        interval=0.1,
    )
    assert interrupted["status"] == "in_progress", interrupted
    assert target.server in interrupted["current_step"]
    await asyncio.to_thread(target.start_apiserver)
    done = await wait_for(fetch, lambda r: r["status"] != "in_progress", 120)
    assert done["status"] == "completed", done
    assert done["counts"]["ConfigMap"]["created"] == 1200 and done["errors"] == []
    assert done["items_done"] == done["items_total"]
