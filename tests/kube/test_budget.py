"""The read budget and the page bounds as pure logic: what is reserved, who waits, who
fails, and what a page asked for with a limit may be."""

from __future__ import annotations

import asyncio

import pytest

from taichu.kube import ReadBudgetExhausted, ReadLimits
from taichu.kube.budget import GRAIN, ReadBudget
from taichu.kube.limits import KiB, MiB, honours_limit
from tests.support.waiting import wait_for

FREE = 64 * KiB


def budget(total: int = 10 * MiB, wait: float = 0.2) -> ReadBudget:
    return ReadBudget(total, wait, FREE)


async def test_the_free_part_of_an_answer_is_never_counted() -> None:
    b = budget(total=GRAIN, wait=0.01)
    async with b.hold("big") as big:
        await big.cover(FREE + GRAIN)  # the whole budget
        assert b.in_use == GRAIN
        async with b.hold("small") as small:  # /version, /readyz: never waits
            await small.cover(FREE)
            assert small.reserved == 0
    assert b.in_use == 0


async def test_reserved_in_grains_as_the_answer_grows() -> None:
    b = budget()
    async with b.hold("a") as held:
        await held.cover(FREE + 1)
        assert held.reserved == b.in_use == GRAIN
        await held.cover(FREE + GRAIN)  # still covered: no new reservation
        assert b.in_use == GRAIN
        await held.cover(FREE + GRAIN + 1)
        assert b.in_use == 2 * GRAIN
    assert b.in_use == 0


async def test_an_answer_waits_for_room_and_gets_it_when_another_is_done() -> None:
    b = budget(total=4 * MiB, wait=5)
    first = b.hold("first")
    await first.cover(FREE + 3 * MiB)
    async with b.hold("second") as second:
        waiting = asyncio.create_task(second.cover(FREE + 2 * MiB))
        await asyncio.sleep(0.05)
        assert not waiting.done() and b.waiting == 1
        first.release()
        await asyncio.wait_for(waiting, 1)
        assert second.reserved == 2 * MiB and b.in_use == 2 * MiB


async def test_no_room_in_time_is_a_503_cluster_error_naming_the_settings() -> None:
    b = budget(total=2 * MiB, wait=0.1)
    async with b.hold("first") as first:
        await first.cover(FREE + 2 * MiB)
        async with b.hold("GET /api/v1/pods from https://c1") as second:
            with pytest.raises(ReadBudgetExhausted) as info:
                await second.cover(FREE + MiB)
            assert second.reserved == 0 and b.waiting == 0
    error = info.value
    assert error.status == 503 and error.cluster_status is None
    assert "setting kube.read_budget_bytes" in error.message
    assert "kube.read_budget_wait_seconds" in error.message
    assert "GET /api/v1/pods from https://c1" in error.message
    assert b.in_use == 0 and b.exhausted == 1


async def test_the_wait_is_bounded_per_answer_not_per_grain() -> None:
    b = budget(total=3 * MiB, wait=30)
    hog = b.hold("hog")
    await hog.cover(FREE + 2 * MiB)
    held = b.hold("slow")
    await held.cover(FREE + MiB)  # the budget is full now
    growing = asyncio.create_task(held.cover(FREE + 2 * MiB))
    await wait_for(lambda: b.waiting, lambda n: n == 1, timeout=10, interval=0.01)
    hog.trim(FREE + MiB)  # gives back the grain it waits for
    await asyncio.wait_for(growing, 10)
    assert 0 < held.waited < 30  # the answer's wait so far is counted
    held.waited = 29.9  # as if it had already waited nearly all of its 30 s
    with pytest.raises(ReadBudgetExhausted):  # after the 0.1 s left, not another 30 s
        await asyncio.wait_for(held.cover(FREE + 3 * MiB), 10)
    assert held.reserved == 2 * MiB and b.waiting == 0


async def test_first_come_first_served_a_big_answer_is_not_overtaken() -> None:
    b = budget(total=4 * MiB, wait=5)
    hog = b.hold("hog")
    await hog.cover(FREE + 3 * MiB)
    big, small = b.hold("big"), b.hold("small")
    big_wait = asyncio.create_task(big.cover(FREE + 3 * MiB))
    await asyncio.sleep(0.01)
    small_wait = asyncio.create_task(small.cover(FREE + MiB))  # 1 MiB is free, but big is first
    await asyncio.sleep(0.05)
    assert not small_wait.done() and not big_wait.done()
    hog.release()
    await asyncio.wait_for(asyncio.gather(big_wait, small_wait), 1)
    assert big.reserved == 3 * MiB and small.reserved == MiB


async def test_a_cancelled_waiter_gives_its_turn_back() -> None:
    b = budget(total=2 * MiB, wait=5)
    hog = b.hold("hog")
    await hog.cover(FREE + 2 * MiB)
    cancelled, later = b.hold("cancelled"), b.hold("later")
    first = asyncio.create_task(cancelled.cover(FREE + 2 * MiB))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(later.cover(FREE + MiB))
    await asyncio.sleep(0.01)
    first.cancel()
    hog.release()  # grants the head, whose task is being cancelled: it gives it back
    await asyncio.wait_for(second, 1)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert later.reserved == MiB and cancelled.reserved == 0 and b.in_use == MiB


async def test_answers_that_all_wait_are_untangled_by_the_wait_bound() -> None:
    """Three answers each holding a third and each wanting more: the first to have waited
    gives up, the others get its share (none would, left to itself)."""
    b = budget(total=3 * MiB, wait=0.2)
    holds = [b.hold(f"h{i}") for i in range(3)]
    for held in holds:
        await held.cover(FREE + MiB)

    async def grow(held: object) -> str:
        try:
            await held.cover(FREE + 2 * MiB)  # type: ignore[attr-defined]
        except ReadBudgetExhausted:
            held.release()  # type: ignore[attr-defined]  # the reader drops its buffer
            return "failed"
        return "grew"

    outcomes = await asyncio.gather(*(grow(h) for h in holds))
    assert outcomes.count("grew") >= 1 and outcomes.count("failed") >= 1
    assert b.in_use <= b.total_bytes


async def test_trim_gives_back_what_a_watch_buffer_no_longer_needs() -> None:
    b = budget()
    async with b.hold("watch") as held:
        await held.cover(FREE + 5 * MiB)
        held.trim(FREE + MiB - 1)
        assert held.reserved == b.in_use == MiB
        held.trim(10)
        assert held.reserved == b.in_use == 0


def test_the_budget_must_hold_the_largest_single_answer() -> None:
    with pytest.raises(ValueError, match=r"kube\.read_budget_bytes"):
        ReadLimits(read_budget_bytes=128 * MiB)  # list_page_max_bytes is 256 MiB
    ReadLimits(read_budget_bytes=128 * MiB, list_page_max_bytes=64 * MiB)


# --- what a page may be ------------------------------------------------------------------------


def test_a_page_of_n_items_is_bounded_by_n_times_the_item_allowance() -> None:
    limits = ReadLimits()
    one_object = limits.answer_max_bytes + 64 * KiB
    assert limits.page_bound(500).max_bytes == one_object  # 500 x 64 KiB = 32 MiB
    assert limits.page_bound(1).max_bytes == one_object  # a page always fits one object
    assert "a page of 1 item" in limits.page_bound(1).why
    assert limits.page_bound(2000).max_bytes == 2000 * 64 * KiB + 64 * KiB
    assert "kube.list_item_max_bytes" in limits.page_bound(2000).why
    assert limits.page_bound(10_000).max_bytes == limits.list_page_max_bytes
    assert limits.page_bound(None).max_bytes == limits.list_page_max_bytes  # a whole list
    assert "kube.list_page_max_bytes" in limits.page_bound(None).why


def test_the_item_allowance_is_far_above_real_objects() -> None:
    """Measured in a lab cluster (bench/big_cluster.py's pods): a pod 3.5-5.5 KB, an event
    about 1 KB, a node 4 KB. A page of 500 of them is at most ~2.8 MB."""
    limits = ReadLimits()
    assert limits.page_bound(500).max_bytes > 500 * 5_506 * 10


@pytest.mark.parametrize(
    ("params", "paged"),
    [
        ({"limit": 500}, True),
        ({"limit": 500, "resourceVersion": "0"}, False),
        ({"limit": 500, "resourceVersion": 0}, False),
        ({"limit": 500, "resourceVersion": "123", "resourceVersionMatch": "NotOlderThan"}, False),
        ({"limit": 500, "resourceVersion": "123"}, True),
        ({"limit": 500, "resourceVersion": "123", "resourceVersionMatch": "Exact"}, True),
    ],
)
def test_which_lists_the_api_server_pages(params: dict[str, object], paged: bool) -> None:
    assert honours_limit(params) is paged
