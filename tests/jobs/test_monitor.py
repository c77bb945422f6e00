"""The monitor kit: shards stay put as entities come and go; only newer results win."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs.models import Job
from taichu.jobs.monitor import ShardedMonitor, bucket_of, is_newer, shard
from taichu.timeutil import utcnow


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _where(shards: dict[int, list[str]]) -> dict[str, int]:
    return {entity: bucket for bucket, members in shards.items() for entity in members}


def test_adding_and_removing_entities_moves_no_other_entity() -> None:
    fleet = _ids(2000)
    before = _where(shard(fleet, 64))
    grown = _where(shard([*_ids(150), *fleet], 64))
    shrunk = _where(shard(fleet[300:], 64))
    assert all(grown[e] == before[e] for e in fleet)
    assert all(shrunk[e] == before[e] for e in fleet[300:])


def test_buckets_are_stable_across_processes_and_balanced() -> None:
    # A fixed digest, not Python's per-process salted hash(): another replica agrees.
    assert bucket_of("00000000-0000-4000-8000-000000000000", 64) == bucket_of(
        "00000000-0000-4000-8000-000000000000", 64
    )
    sizes = [len(m) for m in shard(_ids(2000), 64).values()]
    assert len(sizes) == 64 and max(sizes) < 2.5 * 2000 / 64


def test_only_a_later_start_replaces_a_result() -> None:
    now = utcnow()
    assert is_newer(None, now)
    assert is_newer(now - timedelta(seconds=1), now)
    assert not is_newer(now, now)
    assert not is_newer(now + timedelta(seconds=1), now)


async def test_enqueued_shard_keys_survive_a_new_entity(ctx: AppContext) -> None:
    fleet = _ids(300)
    listed = list(fleet)

    async def list_ids(session: AsyncSession) -> list[str]:
        return listed

    monitor = ShardedMonitor("test-monitor", "test.shard", list_ids)
    async with transaction(ctx.sessions) as session:
        await monitor.enqueue(session, utcnow())
    async with ctx.read_sessions() as session:
        first = {j.dedup_key: j.payload["ids"] for j in await session.scalars(select(Job))}
    listed.insert(0, "00000000-0000-4000-8000-000000000000")  # sorts before every other id
    async with transaction(ctx.sessions) as session:
        await monitor.enqueue(session, utcnow())  # the first tick's jobs are still queued
    async with ctx.read_sessions() as session:
        jobs = list(await session.scalars(select(Job)))
    # Every shard of the first tick is still the only job of its key (deduplicated), and
    # at most the new entity's bucket (if it was empty) got a job of its own.
    assert {j.dedup_key: j.payload["ids"] for j in jobs if j.dedup_key in first} == first
    assert len(jobs) - len(first) <= 1
