"""Import as a job, and the health monitor, against two real lab clusters at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from taichu.clusters.models import PlatformEvent
from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import cluster_detail, register, wait_for
from tests.conftest import ADMIN_PASSWORD, bearer, login

pytestmark = pytest.mark.lab


async def _import(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str,
    kubeconfig: str,
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/clusters/import",
        headers=headers,
        json={"name": name, "kubeconfig": kubeconfig, "import_source": "manual", **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _import_status(
    client: httpx.AsyncClient, headers: dict[str, str], import_id: str, final: bool = True
) -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        response = await client.get(f"/api/v1/imports/{import_id}/status", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    return await wait_for(
        fetch, lambda s: s["import_status"] in ("completed", "failed", "cancelled"), 60
    )


async def test_import_completes_with_checks_and_counts(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    started = await _import(
        client,
        admin_headers,
        "imported",
        lab_cluster.kubeconfig,
        environment_type="staging",
        labels={"team": "infra"},
    )
    assert set(started) >= {
        "id",
        "cluster_id",
        "import_source",
        "import_status",
        "imported_resources",
        "imported_by",
        "imported_at",
        "completed_at",
    }
    assert started["import_status"] == "pending" and started["imported_by"] == "admin"
    assert started["completed_at"] == ""
    status = await _import_status(client, admin_headers, started["id"])
    assert status["import_status"] == "completed", status
    assert status["progress"] == 100
    assert status["current_step"] == "Import completed successfully"
    assert status["error_message"] == ""
    checks = status["validation_results"]
    assert checks["kubeconfig_valid"] and checks["api_server_reachable"]
    assert checks["authenticated"] and checks["version_supported"]
    assert checks["kubernetes_version"] == "v1.36.3"
    assert all(checks["permissions"].values())
    counts = status["imported_resources"]
    assert counts["nodes"] == 4 and counts["namespaces"] >= 4
    detail = await cluster_detail(client, admin_headers, started["cluster_id"])
    assert detail["status"] == "healthy" and detail["environment_type"] == "staging"
    listed = await client.get("/api/v1/clusters/imports?status=completed", headers=admin_headers)
    imports = listed.json()["data"]["imports"]
    assert [i["id"] for i in imports] == [started["id"]]
    assert imports[0]["completed_at"].endswith("Z")
    assert (
        await client.get("/api/v1/clusters/imports?import_source=rancher", headers=admin_headers)
    ).json()["data"]["imports"] == []
    topology = (await client.get("/api/v1/clusters/topology", headers=admin_headers)).json()
    assert [e["type"] for e in topology["data"]["environments"]] == ["staging"]


async def test_failed_imports_say_why_and_leave_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    # An identity that can only read pods in one namespace: not enough to manage a cluster.
    token = lab_cluster.mint_token(
        "import-test",
        "narrow",
        rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    )
    narrow = await _import(client, admin_headers, "narrow", lab_cluster.kubeconfig_for_token(token))
    status = await _import_status(client, admin_headers, narrow["id"])
    assert status["import_status"] == "failed"
    assert "list nodes" in status["error_message"]
    assert status["validation_results"]["permissions"]["list nodes"] is False
    unreachable = await _import(
        client,
        admin_headers,
        "unreachable",
        lab_cluster.kubeconfig.replace(lab_cluster.server, "https://127.0.0.1:9"),
    )
    status = await _import_status(client, admin_headers, unreachable["id"])
    assert status["import_status"] == "failed"
    assert "cannot reach" in status["error_message"]
    assert status["validation_results"]["api_server_reachable"] is False
    clusters = (await client.get("/api/v1/clusters", headers=admin_headers)).json()["data"]
    assert clusters["total"] == 0  # no cluster, no stored credentials
    # The name is free again.
    retry = await _import(client, admin_headers, "unreachable", lab_cluster.kubeconfig)
    assert (await _import_status(client, admin_headers, retry["id"]))["import_status"] == (
        "completed"
    )


@pytest.mark.slow
async def test_health_follows_nodes_and_outages(
    start_app: Any, make_settings: Any, lab_cluster_factory: Any
) -> None:
    interval = 1.0
    # The outage below is a refused connection, noticed without waiting for the probe
    # timeout; a generous one keeps a loaded machine from failing the healthy cluster's
    # own probes.
    probe_timeout = 10.0
    client = await start_app(
        make_settings(health_interval=interval, cluster_probe_timeout=probe_timeout)
    )
    headers = bearer(await login(client, "admin", ADMIN_PASSWORD))
    first: LabCluster = lab_cluster_factory("first", workers=2)
    second: LabCluster = lab_cluster_factory("second", workers=1)
    one = (await register(client, headers, "first", first.kubeconfig)).json()["data"]["id"]
    imported = await _import(client, headers, "second", second.kubeconfig)
    two = imported["cluster_id"]
    await _import_status(client, headers, imported["id"])
    assert (await cluster_detail(client, headers, one))["node_count"] == 3
    assert (await cluster_detail(client, headers, two))["node_count"] == 2

    # Scale: the counts follow, at the next health rounds (every interval).
    first.create_nodes(3, "worker")
    await wait_for(
        lambda: cluster_detail(client, headers, one), lambda d: d["node_count"] == 6, timeout=30
    )

    # An outage: the first goes disconnected (with an event), the second stays healthy
    # and its requests stay fast.
    first.stop_apiserver()
    try:
        await wait_for(
            lambda: cluster_detail(client, headers, one),
            lambda d: d["status"] == "disconnected",
            timeout=2 * interval + 8,
        )
        for _ in range(5):
            started = time.perf_counter()
            detail = await cluster_detail(client, headers, two)
            # Not held up by the other cluster's probes (bounded by probe_timeout).
            assert time.perf_counter() - started < 2 < probe_timeout
            assert detail["status"] == "healthy"
            await asyncio.sleep(interval)
        assert (await cluster_detail(client, headers, two))["status"] == "healthy"
    finally:
        first.start_apiserver()
    await wait_for(
        lambda: cluster_detail(client, headers, one),
        lambda d: d["status"] == "healthy",
        timeout=2 * interval + 15,
    )
    ctx = client._transport.app.state.ctx  # type: ignore[attr-defined]
    async with ctx.sessions() as session:
        rows = list(
            await session.scalars(
                select(PlatformEvent)
                .where(PlatformEvent.cluster_id == one)
                .order_by(PlatformEvent.created_at)
            )
        )
    transitions = [(e.reason, e.severity) for e in rows if e.component == "health-monitor"]
    assert ("Disconnected", "critical") in transitions
    assert transitions[-1] == ("Healthy", "info")
