"""Events: the cluster's Kubernetes Events merged with the platform's own."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import wait_for
from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.observe.helpers import get_data, namespace, registered

pytestmark = pytest.mark.lab

EVENT_FIELDS = {
    "id",
    "event_type",
    "message",
    "severity",
    "component",
    "count",
    "first_seen",
    "last_seen",
    "created_at",
}


def k8s_event(ns: str, reason: str, event_type: str, message: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"obs.{uuid.uuid4().hex[:10]}", "namespace": ns},
        "involvedObject": {"kind": "Pod", "name": "demo", "namespace": ns},
        "reason": reason,
        "message": message,
        "type": event_type,
        "count": 3,
        "source": {"component": "test-kubelet"},
        "firstTimestamp": now,
        "lastTimestamp": now,
    }


async def test_cluster_events_with_severity_and_platform_events(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    path = f"/api/v1/clusters/{cid}/events"
    tag = uuid.uuid4().hex[:8]
    with namespace(lab_cluster) as ns:
        for reason, kind in (("BackOff", "Warning"), ("Unusual", "Warning"), ("Pulled", "Normal")):
            lab_cluster.api.create(
                f"/api/v1/namespaces/{ns}/events", k8s_event(ns, reason, kind, f"{reason} {tag}")
            )
        # The scheduler's own Warning: no node matches the selector.
        lab_cluster.api.create(
            f"/api/v1/namespaces/{ns}/pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "stuck"},
                "spec": {
                    "nodeSelector": {"no-such-label": "x"},
                    "containers": [{"name": "main", "image": "registry.local/app:1"}],
                },
            },
        )

        def ours(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
            return {e["message"].split()[0]: e for e in data["events"] if tag in e["message"]}

        async def fetch() -> dict[str, Any]:
            return await get_data(client, admin_headers, path, limit=100)

        data = await wait_for(
            fetch,
            lambda d: (
                len(ours(d)) == 3
                and any(
                    e["event_type"] == "Pod"
                    and e["component"] == "default-scheduler"
                    and e["namespace"] == ns
                    for e in d["events"]
                )
            ),
            timeout=30,
        )
        assert data["cluster_events_available"] is True and data["cluster_events_note"] is None
        mine = ours(data)
        assert {k: e["severity"] for k, e in mine.items()} == {
            "BackOff": "error",
            "Unusual": "warning",
            "Pulled": "info",
        }
        backoff = mine["BackOff"]
        assert set(backoff) >= EVENT_FIELDS
        assert backoff["event_type"] == "Pod" and backoff["component"] == "test-kubelet"
        assert backoff["count"] == 3 and backoff["source"] == "kubernetes"
        assert backoff["first_seen"].endswith("Z") and backoff["last_seen"].endswith("Z")
        scheduling = next(
            e
            for e in data["events"]
            if e["namespace"] == ns and e["component"] == "default-scheduler"
        )
        assert scheduling["reason"] == "FailedScheduling" and scheduling["severity"] == "error"

        registered_event = next(e for e in data["events"] if e["source"] == "platform")
        assert registered_event["event_type"] == "Cluster"
        assert (
            registered_event["severity"] == "info" and "registered" in (registered_event["message"])
        )
        last_seen = [e["last_seen"] for e in data["events"]]
        assert last_seen == sorted(last_seen, reverse=True)  # newest first
        summary = data["summary"]
        assert set(summary) == {"info_count", "warning_count", "error_count", "critical_count"}
        assert sum(summary.values()) == data["total"]

        errors = await get_data(client, admin_headers, path, severity="error", limit=100)
        assert {e["severity"] for e in errors["events"]} == {"error"}
        assert errors["total"] == summary["error_count"] and errors["summary"] == summary
        warnings = await get_data(client, admin_headers, path, severity="warning", limit=100)
        assert "Unusual" in ours(warnings) and "BackOff" not in ours(warnings)

        future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        later = await get_data(client, admin_headers, path, since=future)
        assert later["events"] == [] and later["total"] == 0
        page = await get_data(client, admin_headers, path, limit=2, page=2)
        assert len(page["events"]) == 2 and page["total"] == data["total"]

        bad = await client.get(path, headers=admin_headers, params={"severity": "fatal"})
        assert bad.status_code == 422 and "severity" in bad.json()["message"]
        bad = await client.get(path, headers=admin_headers, params={"since": "yesterday"})
        assert bad.status_code == 400 and "since" in bad.json()["message"]


@pytest.mark.slow
async def test_disconnect_is_critical_and_events_still_answer(
    start_app: Any, make_settings: Any, lab_cluster_factory: Any
) -> None:
    client = await start_app(make_settings(health_interval=1.0, cluster_probe_timeout=3))
    headers = bearer(await login(client, "admin", ADMIN_PASSWORD))
    lab: LabCluster = lab_cluster_factory(workers=1)
    cid = await registered(client, headers, lab)
    events_path, nodes_path = f"/api/v1/clusters/{cid}/events", f"/api/v1/clusters/{cid}/nodes"
    assert (await get_data(client, headers, nodes_path))["total"] == 2  # cache started
    assert (await get_data(client, headers, events_path))["cluster_events_available"] is True

    lab.stop_apiserver()
    try:

        async def fetch() -> dict[str, Any]:
            return await get_data(client, headers, events_path, severity="critical")

        data = await wait_for(fetch, lambda d: d["total"] >= 1, timeout=20)
        critical = data["events"][0]
        assert critical["source"] == "platform" and critical["event_type"] == "Cluster"
        assert "disconnected" in critical["message"]
        assert critical["component"] == "health-monitor"
        # Answers at once, says the cluster's own events are missing and why.
        started = time.perf_counter()
        data = await get_data(client, headers, events_path)
        assert time.perf_counter() - started < 2.0
        assert data["cluster_events_available"] is False
        assert "platform's own events only" in data["cluster_events_note"]
        assert data["summary"]["critical_count"] >= 1

        started = time.perf_counter()
        down = await client.get(nodes_path, headers=headers)
        assert time.perf_counter() - started < 2.0
        assert down.status_code == 503, down.text
        message = down.json()["message"]
        assert down.json()["code"] == 503 and "cannot" in message and "nodes" in message
    finally:
        lab.start_apiserver()

    # The cache comes back on its own (relist) once the API server answers again.
    async def nodes_status() -> int:
        return (await client.get(nodes_path, headers=headers)).status_code

    await wait_for(nodes_status, lambda s: s == 200, timeout=30)

    # The events informer has its own back-off; a view cuts it short.
    async def events_available() -> bool:
        return bool((await get_data(client, headers, events_path))["cluster_events_available"])

    await wait_for(events_available, lambda ok: ok, timeout=30)
