"""The monitor kit: list -> shard -> enqueue, for periodic work over many entities
(cluster health now, machine reachability next).

A periodic tick lists the ids that need looking at, puts each in a bucket by a stable hash
of its id, and enqueues one job per non-empty bucket with the de-duplication key
`<name>:<bucket>` (a bucket whose job is still running is not enqueued again).

Why a fixed number of buckets: the key of an entity's shard then depends on its id alone,
so clusters coming and going never move another entity to another shard, and two jobs
never hold the same entity because its shard was renamed (a shard keyed by its first id
shifted every key when one entity was added or removed). A bucket count derived from the
entity count would have to move entities whenever it changes; 64 buckets give small fleets
one job per entity and 2,000 entities ~31 per job (probes within a job run concurrently
under a process-wide gate, so a larger shard costs no throughput, only dedup granularity).

A slow job may still finish after a newer observation was written (a worker stalled past
its lease, a bucket taken over): results carry the time their observation *started*, and
`is_newer` is the rule every shard writer applies per entity, under a row lock."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from taichu.jobs import service as jobs
from taichu.jobs.registry import Handler, JobRegistry

DEFAULT_BUCKETS = 64
ListIds = Callable[[AsyncSession], Awaitable[Sequence[str]]]


def bucket_of(entity_id: str, buckets: int) -> int:
    """A stable bucket (the same in every process and release: not Python's `hash`)."""
    digest = hashlib.blake2b(entity_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


def shard(ids: Sequence[str], buckets: int) -> dict[int, list[str]]:
    """Non-empty buckets, each with its ids sorted (a stable payload for a stable key)."""
    shards: dict[int, list[str]] = {}
    for entity_id in ids:
        shards.setdefault(bucket_of(entity_id, buckets), []).append(entity_id)
    return {bucket: sorted(members) for bucket, members in sorted(shards.items())}


def is_newer(recorded_started_at: datetime | None, started_at: datetime) -> bool:
    """May an observation that started at `started_at` replace the recorded one? Only if
    it started later: a slow observation never overwrites a newer one."""
    return recorded_started_at is None or recorded_started_at < started_at


@dataclass(frozen=True)
class ShardedMonitor:
    """`name`: the periodic tick and the dedup-key prefix; `kind`: the job kind of one
    shard, whose payload is `{payload_key: [ids], "bucket": n}`."""

    name: str
    kind: str
    list_ids: ListIds
    payload_key: str = "ids"
    buckets: int = DEFAULT_BUCKETS

    def dedup_key(self, bucket: int) -> str:
        return f"{self.name}:{bucket}"

    async def enqueue(self, session: AsyncSession, now: datetime) -> int:
        """The periodic callback: one job per non-empty bucket. Returns the jobs asked for."""
        shards = shard(list(await self.list_ids(session)), self.buckets)
        for bucket, ids in shards.items():
            await jobs.enqueue(
                session,
                self.kind,
                {self.payload_key: ids, "bucket": bucket},
                dedup_key=self.dedup_key(bucket),
                max_attempts=1,  # the next tick is the retry
            )
        return len(shards)

    def register(self, registry: JobRegistry, interval_seconds: float, handler: Handler) -> None:
        registry.handler(self.kind, max_attempts=1)(handler)

        async def tick(session: AsyncSession, now: datetime) -> None:
            await self.enqueue(session, now)

        registry.periodic(self.name, interval_seconds, tick)
