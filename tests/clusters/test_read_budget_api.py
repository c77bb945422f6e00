"""Several hostile clusters answering huge pages at once, through the real API of a real
`taichu serve` (issue 8, "no process-wide budget for concurrent large reads"): a reviewer's
3 clusters answering /api/v1/events with 250 MB each took the server to 1.66 GB. Now a
page is bounded by the `limit` it was asked with, and all answers of the process at once by
the read budget; the server's peak memory (VmHWM) stays under a stated bound and every
request fails cleanly in the family's shape."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hostile_cluster import HostileCluster, MiB, huge_answer
from tests.support.server import (
    ServerProcess,
    login_token,
    prepare_database,
    running_server,
    server_env,
)
from tests.support.waiting import wait_for

ADMIN_PASSWORD = "Budget-Admin-1"
HUGE = 250 * MiB  # what the reviewer's clusters answered


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak since start) of one process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def wait(fetch: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float = 120) -> Any:
    return asyncio.run(wait_for(fetch, predicate, timeout=timeout))


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., tuple[ServerProcess, httpx.Client]]]:
    with ExitStack() as stack:

        def make(**settings: str) -> tuple[ServerProcess, httpx.Client]:
            env = server_env(
                prepare_database(tmp_path, "budget"),
                tmp_path / "data",
                TAICHU_SECRET_KEY="budget-test-secret-0123456789abcdef",
                TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
                TAICHU_HEALTH_INTERVAL="3600",  # no probes: the test's reads are the load
                TAICHU_CLUSTER_PROBE_TIMEOUT="60",
                **settings,
            )
            server = stack.enter_context(running_server(env, tmp_path / "server.log"))
            token = login_token(server.url, "admin", ADMIN_PASSWORD)
            api = stack.enter_context(
                httpx.Client(
                    base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=300
                )
            )
            return server, api

        yield make


def hostile_clusters(stack: ExitStack, api: httpx.Client, count: int) -> list[tuple[str, Any]]:
    """`count` hostile clusters registered while still believable: (id, cluster)."""
    made = []
    for _ in range(count):
        cluster = stack.enter_context(HostileCluster())
        name = f"budget-{uuid.uuid4().hex[:8]}"
        response = api.post(
            "/api/v1/clusters", json={"name": name, "kubeconfig": cluster.kubeconfig()}
        )
        assert response.status_code == 200, response.text
        made.append((response.json()["data"]["id"], cluster))
    return made


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_huge_event_pages_from_three_clusters_stay_far_below_their_size(
    make_server: Callable[..., tuple[ServerProcess, httpx.Client]],
) -> None:
    """The reviewer's attack with the default settings: a page asked for with limit=500 may
    be 32 MiB (one object's bound; 500 events are 0.5 MB), so 3 x 250 MB never arrive."""
    server, api = make_server()
    pid = server.proc.pid  # type: ignore[union-attr]
    with ExitStack() as stack:
        clusters = hostile_clusters(stack, api, 3)
        for _, cluster in clusters:
            cluster.answer("/api/v1/events", huge_answer(HUGE, prefix=b'{"items": ["'))
        before = memory_mib(pid)["VmRSS"]

        def refused(cluster_id: str) -> Callable[[], dict[str, Any]]:
            def fetch() -> dict[str, Any]:
                response = api.get(f"/api/v1/clusters/{cluster_id}/events")
                assert response.status_code == 200, response.text
                return dict(response.json()["data"])

            return lambda: wait(
                fetch, lambda d: "more than a page of" in (d["cluster_events_note"] or "")
            )

        answers = at_once([refused(cluster_id) for cluster_id, _ in clusters])
        peak = memory_mib(pid)["VmHWM"]
        for data in answers:
            assert data["cluster_events_available"] is False
            note = data["cluster_events_note"]
            assert "asked for pages of 500, 125, 31, 7, 1 items" in note
            assert "setting kube.answer_max_bytes" in note
        for _, cluster in clusters:
            assert cluster.hits["/api/v1/events"] >= 5  # each smaller page asked once
    assert api.get("/healthz").status_code == 200
    # Before: 3 x 250 MB read whole (1.66 GB peak). Now: at most ~32 MiB per cluster.
    print(f"\n3 x 250 MB event pages: VmRSS before {before:.0f} MiB, VmHWM {peak:.0f} MiB")
    assert peak - before < 250, (before, peak)


def test_huge_answers_from_four_clusters_hold_no_more_than_the_read_budget(
    make_server: Callable[..., tuple[ServerProcess, httpx.Client]],
) -> None:
    """Four clusters whose node lists are 250 MB, read at once under a 48 MiB read budget:
    each page may be 32 MiB, together 128 MiB, so the budget decides. The views fail
    cleanly (503 or 502 in the family's shape, naming why), at least one of them for want
    of room in the budget, and the server's peak stays within the budget plus its own."""
    server, api = make_server(
        TAICHU_KUBE__READ_BUDGET_BYTES=str(48 * MiB),
        TAICHU_KUBE__LIST_PAGE_MAX_BYTES=str(48 * MiB),
        TAICHU_KUBE__READ_BUDGET_WAIT_SECONDS="1",
    )
    pid = server.proc.pid  # type: ignore[union-attr]
    with ExitStack() as stack:
        clusters = hostile_clusters(stack, api, 4)
        for _, cluster in clusters:
            cluster.answer("/api/v1/nodes", huge_answer(HUGE, prefix=b'{"items": ["'))
        before = memory_mib(pid)["VmRSS"]
        responses = at_once(
            [
                lambda cluster_id=cluster_id: api.get(f"/api/v1/clusters/{cluster_id}/nodes")
                for cluster_id, _ in clusters
            ]
        )
        peak = memory_mib(pid)["VmHWM"]
        assert api.get("/healthz").status_code == 200
    messages = []
    for response in responses:
        assert response.status_code in (502, 503), response.text
        body = response.json()
        assert body["code"] == response.status_code and body["data"] is None
        messages.append(body["message"])
    assert any("setting kube.read_budget_bytes" in m for m in messages), messages
    for message in messages:
        assert "kube.read_budget_bytes" in message or "more than a page of" in message, message
    # Before: no budget, a 256 MiB page bound: 4 x 250 MB held at once (~1 GB).
    print(f"\n4 x 250 MB node lists: VmRSS before {before:.0f} MiB, VmHWM {peak:.0f} MiB")
    assert peak - before < 48 + 100, (before, peak)
