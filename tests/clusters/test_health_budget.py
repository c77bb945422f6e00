"""A health probe refused room in the platform's read budget gives no verdict: the budget is
the platform's load, not the cluster's health. Through a real `taichu serve` with the
smallest budget (1 MiB) and hostile clusters holding it with slow node lists, a healthy lab
cluster whose node list is larger than the free first 64 KiB is swept by the monitor: it
never turns `error`, gets no transition event, and is healthy again once the budget is
free. Registering a cluster meanwhile answers 503 (retry later), not 422, and stores
nothing."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from taichu.lab.cluster import LabCluster
from tests.support.hostile_cluster import HostileCluster, MiB, json_answer, node, node_list
from tests.support.server import login_token, prepare_database, running_server, server_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.lab
ADMIN_PASSWORD = "Budget-Probe-Admin-1"
HOLDERS = 4
# More than the budget's free first 64 KiB per answer: ~4 KB a node, with the control plane.
LAB_WORKERS = 24


async def holding_answer(request: web.Request) -> web.StreamResponse:
    """A node list past the free 64 KiB at once, then a byte every 0.2 s: each read of it
    holds a grain (1 MiB, the whole budget here) until the platform gives up on it."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(b'{"items": ["' + b"a" * (200 * 1024))
        while request.transport is not None and not request.transport.is_closing():
            await response.write(b"a")
            await asyncio.sleep(0.2)
    except (ConnectionResetError, RuntimeError):
        pass
    return response


def wait(fetch: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float = 180) -> Any:
    return asyncio.run(wait_for(fetch, predicate, timeout=timeout))


@pytest.fixture
def lab_big(lab_cluster_factory: Callable[..., LabCluster]) -> LabCluster:
    return lab_cluster_factory(workers=LAB_WORKERS)


def register(api: httpx.Client, kubeconfig: str) -> httpx.Response:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    return api.post("/api/v1/clusters", json={"name": name, "kubeconfig": kubeconfig})


def all_events(api: httpx.Client, cluster_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in range(1, 50):
        got = api.get(f"/api/v1/clusters/{cluster_id}/events", params={"page": page, "limit": 100})
        assert got.status_code == 200, got.text
        data = got.json()["data"]
        found += data["events"]
        if len(found) >= data["total"] or not data["events"]:
            return found
    raise AssertionError("too many events")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, httpx.Client]]:
    env = server_env(
        prepare_database(tmp_path, "budgetprobe"),
        tmp_path / "data",
        TAICHU_SECRET_KEY="budget-probe-secret-0123456789abcdef",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_HEALTH_INTERVAL="1",
        # The smallest budget: one grain, so one answer past 64 KiB holds all of it.
        TAICHU_KUBE__READ_BUDGET_BYTES=str(MiB),
        TAICHU_KUBE__ANSWER_MAX_BYTES=str(MiB),
        TAICHU_KUBE__LIST_PAGE_MAX_BYTES=str(MiB),
        TAICHU_KUBE__WATCH_EVENT_MAX_BYTES=str(MiB),
        TAICHU_KUBE__READ_BUDGET_WAIT_SECONDS="1",
    )
    with running_server(env, tmp_path / "server.log") as server:
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as api:
            yield server, api


def test_probe_without_budget_keeps_status_and_registration_is_503(
    served: tuple[Any, httpx.Client], lab_big: LabCluster
) -> None:
    server, api = served
    response = register(api, lab_big.kubeconfig)
    assert response.status_code == 200, response.text
    lab_id = response.json()["data"]["id"]

    def detail() -> dict[str, Any]:
        got = api.get(f"/api/v1/clusters/{lab_id}")
        assert got.status_code == 200, got.text
        return dict(got.json()["data"])

    assert wait(detail, lambda d: d["status"] == "healthy")["node_count"] == LAB_WORKERS + 1
    no_verdict = f"cluster {lab_id}: no health verdict this sweep"
    stop = threading.Event()
    statuses: list[str] = []
    with ExitStack() as stack:
        hostile = []
        for _ in range(HOLDERS):
            cluster = stack.enter_context(HostileCluster())
            response = register(api, cluster.kubeconfig())
            assert response.status_code == 200, response.text
            hostile.append((response.json()["data"]["id"], cluster))
        for _, cluster in hostile:
            cluster.answer("/api/v1/nodes", holding_answer)

        def hold(cluster_id: str) -> None:  # the budget's load: reads of the slow lists
            while not stop.is_set():
                api.get(f"/api/v1/clusters/{cluster_id}/nodes")

        threads = [threading.Thread(target=hold, args=(i,), daemon=True) for i, _ in hostile]
        for thread in threads:
            thread.start()
        try:

            def watched() -> str:
                seen = detail()
                statuses.append(seen["status"])
                # Before: the budget's refusal was recorded as the cluster's own error.
                assert seen["status"] != "error", seen
                return server.log()

            wait(watched, lambda log: log.count(no_verdict) >= 3)
            # Registration while the budget is held: 503 in the envelope, nothing stored.
            big = stack.enter_context(HostileCluster())
            big.answer(
                "/api/v1/nodes", json_answer(node_list(*(node(f"n{i}") for i in range(400))))
            )
            refused = register(api, big.kubeconfig())
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert body["code"] == 503 and body["data"] is None
            assert "setting kube.read_budget_bytes" in body["message"], body
            statuses.append(detail()["status"])
        finally:
            stop.set()
            for _, cluster in hostile:
                cluster.believable()
            for thread in threads:
                thread.join(120)
    listed = api.get("/api/v1/clusters", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    assert big.server not in listed.text  # the refused registration stored nothing
    assert "error" not in statuses, statuses
    freed = datetime.fromisoformat(detail()["last_heartbeat_at"])
    after = wait(
        detail,
        lambda d: (
            d["status"] == "healthy" and datetime.fromisoformat(d["last_heartbeat_at"]) > freed
        ),
    )
    assert after["last_probe_error"] is None
    monitor = [e for e in all_events(api, lab_id) if e["component"] == "health-monitor"]
    assert monitor == [], monitor  # no transition at all: healthy throughout
