"""Pages bounded by what was asked and answers bounded by one budget, against a hostile
cluster (a real HTTPS server, tests/support/hostile_cluster): a page far larger than its
`limit` allows is refused, a cluster of large objects still lists (in smaller pages), and
several huge answers at once never hold more than the read budget."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from taichu.kube import (
    AnswerTooLarge,
    KubeClient,
    MalformedAnswer,
    ReadBudget,
    ReadBudgetExhausted,
    ReadLimits,
    parse_kubeconfig,
)
from taichu.kube.limits import KiB
from tests.support.hostile_cluster import HostileCluster, MiB, huge_answer
from tests.support.waiting import wait_for

# Small numbers, same rules: a page of N items may be N x 2 KiB, and always 1 MiB (one
# object); a whole list 8 MiB.
LIMITS = ReadLimits(
    answer_max_bytes=MiB,
    list_item_max_bytes=2 * KiB,
    list_page_max_bytes=8 * MiB,
    read_budget_bytes=16 * MiB,
)
ONE_OBJECT = MiB + 64 * KiB


@pytest.fixture
def hostile() -> Iterator[HostileCluster]:
    with HostileCluster() as cluster:
        yield cluster


@pytest.fixture
async def kube(hostile: HostileCluster) -> AsyncIterator[KubeClient]:
    client = KubeClient(parse_kubeconfig(hostile.kubeconfig()), limits=LIMITS)
    yield client
    await client.close()


def recording(handler: Any, limits: list[str]) -> Any:
    """The handler, noting the `limit` of every request."""

    async def handle(request: web.Request) -> web.StreamResponse:
        limits.append(request.query.get("limit", ""))
        return await handler(request)

    return handle


def paged_list(count: int, item_bytes: int, *, ignore_limit: bool = False) -> Any:
    """A real paged list of `count` ConfigMaps of about `item_bytes` each, honouring
    `limit` and `continue` as an API server does (or, like its watch cache, ignoring
    `limit` and answering everything at once)."""
    items = [
        {
            "metadata": {"name": f"cm-{i}", "resourceVersion": "7"},
            "data": {"blob": "x" * item_bytes},
        }
        for i in range(count)
    ]

    async def handle(request: web.Request) -> web.StreamResponse:
        start = int(request.query.get("continue") or 0)
        limit = count if ignore_limit else int(request.query.get("limit") or count)
        page = items[start : start + limit]
        meta: dict[str, Any] = {"resourceVersion": "7"}
        if start + limit < count:
            meta["continue"] = str(start + limit)
        body = {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta, "items": page}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    return handle


async def test_a_page_larger_than_its_limit_allows_is_refused(
    hostile: HostileCluster, kube: KubeClient
) -> None:
    seen: list[str] = []
    hostile.answer("/api/v1/events", recording(huge_answer(6 * MiB, prefix=b'{"items": ["'), seen))
    with pytest.raises(AnswerTooLarge) as info:
        await kube.list_all("/api/v1/events")
    message = info.value.message
    assert f"with more than {ONE_OBJECT} bytes, more than a page of 1 item may be" in message
    assert "(setting kube.answer_max_bytes" in message
    assert "asked for pages of 500, 125, 31, 7, 1 items" in message
    assert seen == ["500", "125", "31", "7", "1"]  # then it stops
    assert info.value.status == 502


async def test_a_cluster_of_large_objects_still_lists_in_smaller_pages(
    hostile: HostileCluster, kube: KubeClient
) -> None:
    """300 ConfigMaps of 20 KiB: a page of 500 (6 MB) is more than 500 x 2 KiB or one
    object, so it is asked for again smaller until a page fits, and the list completes."""
    seen: list[str] = []
    hostile.answer("/api/v1/configmaps", recording(paged_list(300, 20 * KiB), seen))
    items, version = await kube.list_all("/api/v1/configmaps")
    assert [i["metadata"]["name"] for i in items] == [f"cm-{i}" for i in range(300)]
    assert version == "7" and items[0]["kind"] == "ConfigMap"
    assert seen[:3] == ["500", "125", "31"]
    assert set(seen[2:]) == {"31"}  # the rest of the list in pages that fit


async def test_a_whole_list_keeps_the_large_bound(
    hostile: HostileCluster, kube: KubeClient
) -> None:
    """With resourceVersion=0 the API server ignores `limit` and answers the whole list:
    3 MB of 100 items is no page of 500 items, but a whole list within 8 MiB."""
    hostile.answer("/api/v1/configmaps", paged_list(100, 30 * KiB, ignore_limit=True))
    items, _ = await kube.list_all("/api/v1/configmaps", {"resourceVersion": "0"})
    assert len(items) == 100
    with pytest.raises(AnswerTooLarge, match="more than a page of 1 item"):
        await kube.list_all("/api/v1/configmaps")  # paged: ignoring the limit is refused


async def test_huge_answers_at_once_hold_no_more_than_the_budget(
    hostile: HostileCluster,
) -> None:
    """Four whole-list reads of 7 MB each (each within its 8 MiB bound) sharing a 10 MiB
    budget. The cluster holds each answer after 3 MiB, so all four are half-read at once
    (12 MiB > 10): one must wait for room, and a /version meanwhile never waits. Let go,
    the budget is never exceeded, the first to have waited too long fails for want of room
    (503), and the others read to the end (and find no JSON)."""
    budget = ReadBudget(10 * MiB, wait_seconds=0.5, free_bytes=64 * KiB)
    resume = threading.Event()
    hostile.answer(
        "/api/v1/pods",
        huge_answer(
            7 * MiB, prefix=b'{"items": ["', chunk=64 * KiB, pause_after=3 * MiB, resume=resume
        ),
    )
    access = parse_kubeconfig(hostile.kubeconfig())
    clients = [KubeClient(access, limits=LIMITS, budget=budget) for _ in range(5)]
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, budget.in_use)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        reads = [c.list_all("/api/v1/pods", {"resourceVersion": "0"}) for c in clients[:4]]
        tasks = [asyncio.create_task(r) for r in reads]
        # The fourth half-read answer finds no room: it waits (and, waiting too long, fails).
        await wait_for(
            lambda: budget.waiting or any(t.done() for t in tasks), timeout=60, interval=0.005
        )
        assert budget.waiting > 0 or any(
            isinstance(t.exception(), ReadBudgetExhausted) for t in tasks if t.done()
        )
        assert await asyncio.wait_for(clients[4].git_version(), 5) == "v1.31.0"
        resume.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        resume.set()
        sampler.cancel()
        for client in clients:
            await client.close()
    kinds = sorted(type(o).__name__ for o in outcomes)
    assert "ReadBudgetExhausted" in kinds, kinds
    assert set(kinds) <= {"ReadBudgetExhausted", "MalformedAnswer"}, outcomes
    exhausted = next(o for o in outcomes if isinstance(o, ReadBudgetExhausted))
    assert exhausted.status == 503 and "kube.read_budget_bytes" in exhausted.message
    assert any(isinstance(o, MalformedAnswer) for o in outcomes)  # someone got to read
    assert 0 < peak <= budget.total_bytes
    assert budget.in_use == 0 and budget.waiting == 0  # every share was given back


async def test_a_big_watch_event_draws_on_the_budget_too(hostile: HostileCluster) -> None:
    budget = ReadBudget(16 * MiB, wait_seconds=0.3, free_bytes=64 * KiB)
    kube = KubeClient(parse_kubeconfig(hostile.kubeconfig()), limits=LIMITS, budget=budget)
    hog = budget.hold("hog")
    await hog.cover(64 * KiB + 16 * MiB)
    hostile.answer("/api/v1/pods", huge_answer(4 * MiB, prefix=b'{"type": "ADDED", "object": "'))
    try:
        with pytest.raises(ReadBudgetExhausted, match="an event of the watch /api/v1/pods"):
            async with kube.watch("/api/v1/pods", "1") as events:
                async for _ in events:
                    pass
        hog.release()
        assert budget.in_use == 0
    finally:
        await kube.close()
