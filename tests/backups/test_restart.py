"""The whole server is SIGKILLed in the middle of a restore; after a restart the restore
resumes from the parts it had finished and completes — it never stays in_progress."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from taichu.backups.models import Restore
from taichu.config import Settings
from taichu.context import AppContext
from taichu.lab.pytest_fixtures import ClusterFactory
from tests.backups.workload import fill
from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    login_token,
    prepare_database,
    server_env,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]
ADMIN_PASSWORD = "Restart-Admin-1"
NAMESPACES = ["many-1", "many-2", "many-3"]
PER_NAMESPACE = 800


def _call(server: ServerProcess, token: str, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(
        method,
        f"{server.url}/api/v1{path}",
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
        **kw,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _wait(fetch: Any, predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.1)


def _record(env: dict[str, str], restore_id: str) -> Restore:
    async def load() -> Restore:
        ctx = AppContext.create(
            Settings(
                database_url=env["TAICHU_DATABASE_URL"],
                data_dir=Path(env["TAICHU_DATA_DIR"]),
                secret_key=env["TAICHU_SECRET_KEY"],
            )
        )
        try:
            async with ctx.sessions() as session:
                record = await session.get(Restore, restore_id)
                assert record is not None
                return record
        finally:
            await ctx.close()

    return asyncio.run(load())


def test_server_killed_mid_restore_resumes_it_after_restart(
    tmp_path: Path,
    lab_cluster_factory: ClusterFactory,
) -> None:
    source = lab_cluster_factory(workers=1)
    target = lab_cluster_factory(workers=1)
    asyncio.run(fill(source, NAMESPACES, PER_NAMESPACE))
    url = prepare_database(tmp_path, "restore-restart")
    # Two creates at a time: the restore takes long enough to be killed in the middle.
    env = server_env(
        url,
        tmp_path / "data",
        TAICHU_SECRET_KEY="restart-test-secret-0123456789",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_JOBS__LEASE_SECONDS="2",
        TAICHU_BACKUPS__RESTORE_CONCURRENCY="2",
    )
    server = ServerProcess(env, free_port(), tmp_path / "server.log")
    try:
        server.start()
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        ids = [
            _call(
                server,
                token,
                "POST",
                "/clusters",
                json={"name": name, "kubeconfig": lab.kubeconfig},
            )["id"]
            for name, lab in (("src", source), ("dst", target))
        ]
        backup = _call(
            server,
            token,
            "POST",
            f"/clusters/{ids[0]}/backups",
            json={
                "backup_name": "b",
                "backup_type": "namespaces",
                "retention_days": 1,
                "included_namespaces": NAMESPACES,
            },
        )
        path = f"/clusters/{ids[0]}/backups/{backup['id']}"
        _wait(
            lambda: _call(server, token, "GET", path),
            lambda b: b["status"] == "completed",
            120,
            "the backup",
        )
        started = _call(
            server,
            token,
            "POST",
            f"{path}/restore",
            json={"restore_name": "resumed", "target_cluster_id": ids[1]},
        )
        status_path = f"{path}/restore/{started['restore_id']}"
        total = len(NAMESPACES) * PER_NAMESPACE
        _wait(
            lambda: _call(server, token, "GET", status_path),
            lambda r: r["items_done"] >= total * 0.3,
            120,
            "a third of the restore",
        )
        server.kill(signal.SIGKILL)
        killed = _record(env, started["restore_id"])
        assert killed.status == "in_progress" and killed.items_done < killed.items_total
        assert killed.checkpoint["done_parts"]  # some parts were finished and recorded

        server.start()
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        done = _wait(
            lambda: _call(server, token, "GET", status_path),
            lambda r: r["status"] not in ("pending", "in_progress"),
            180,
            "the restore to end",
        )
        assert done["status"] == "completed", done
        assert done["items_done"] == done["items_total"] and done["errors"] == []
        # What the first run created counts as created, not as "already there".
        assert done["counts"]["ConfigMap"]["created"] == total
        record = _record(env, started["restore_id"])
        assert record.checkpoint["runs"] == 2
        for ns in NAMESPACES:
            names = target.kubectl("get", "configmaps", "-n", ns, "-o", "name").stdout.split()
            assert len([n for n in names if "/cm-" in n]) == PER_NAMESPACE
    finally:
        server.kill(signal.SIGTERM)
        drop_prepared_database(url)
