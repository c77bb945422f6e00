"""`probe_cluster` against a hostile cluster (a real HTTPS server) while the read budget is
full: no verdict (ReadBudgetExhausted passes through, for the caller to retry later), not a
cluster `error`; with room it is the same cluster's healthy verdict."""

from __future__ import annotations

import pytest

from taichu.clusters.probe import probe_cluster
from taichu.kube import KubeClient, ReadBudget, ReadBudgetExhausted, ReadLimits, parse_kubeconfig
from taichu.kube.limits import KiB
from tests.support.hostile_cluster import HostileCluster, MiB, json_answer, node, node_list

LIMITS = ReadLimits(
    answer_max_bytes=MiB, list_page_max_bytes=MiB, watch_event_max_bytes=MiB, read_budget_bytes=MiB
)


async def test_a_probe_without_room_in_the_budget_gives_no_verdict() -> None:
    budget = ReadBudget(MiB, wait_seconds=0.2, free_bytes=64 * KiB)
    with HostileCluster() as hostile:
        # ~100 KB of nodes: past the free first 64 KiB of an answer.
        nodes = node_list(*(node(f"n{i}") for i in range(400)))
        hostile.answer("/api/v1/nodes", json_answer(nodes))
        kube = KubeClient(parse_kubeconfig(hostile.kubeconfig()), limits=LIMITS, budget=budget)
        try:
            async with budget.hold("another answer") as held:
                await held.cover(MiB + 64 * KiB)  # the whole budget
                with pytest.raises(ReadBudgetExhausted):
                    await probe_cluster(kube, max_seconds=10)
            result = await probe_cluster(kube, max_seconds=10)
        finally:
            await kube.close()
    assert (result.status, result.node_count, result.error) == ("healthy", 400, None)
    assert budget.in_use == 0 and budget.exhausted == 1
