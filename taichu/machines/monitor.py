"""The reachability monitor: every `machines.check_interval` seconds each machine (but
those an operator put in maintenance) is checked again, in shards of the monitor kit
(taichu/jobs/monitor.py), checks within a shard running concurrently under the process's
sweep gate (`machines.check_concurrency`; checks after a create or an update have a gate of
their own, so they never wait behind a sweep of machines that do not answer). A machine
that stops answering becomes `unavailable` (an event says why) and `available` again once
it answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.config import Settings
from taichu.jobs.monitor import ShardedMonitor
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.machines.checks import check_and_record
from taichu.machines.models import NOT_MONITORED, Machine

SHARD_KIND = "machine.reachability"


async def monitored_ids(session: AsyncSession) -> Sequence[str]:
    return list(
        await session.scalars(select(Machine.id).where(Machine.status.not_in(NOT_MONITORED)))
    )


MONITOR = ShardedMonitor("machine-reachability", SHARD_KIND, monitored_ids, "machine_ids")


async def check_shard(job: JobContext) -> dict[str, int]:
    ids = list(job.payload.get("machine_ids") or [])
    return await check_and_record(
        job.app, ids, "machine-monitor", skip=NOT_MONITORED, gate=job.app.sweep_gate
    )


def register(registry: JobRegistry, settings: Settings) -> None:
    MONITOR.register(registry, settings.machines.check_interval, check_shard)
