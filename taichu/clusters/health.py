"""The health monitor. A periodic tick lists the clusters to probe and enqueues probe jobs
for them in shards; a shard job probes its clusters concurrently, each within the probe's
bounds (reaching the server, then its node list: so one hung cluster never delays the
others), and records every outcome in one short transaction.

Why shards, not one job per cluster: each job costs a few write transactions of queue
bookkeeping; at 2,000 clusters on a 15 s heartbeat that alone is hundreds of write
transactions a second, which on SQLite saturates the process and starves API requests.
A shard keeps the isolation that matters (per-cluster timeout, concurrent probes, a
de-duplication key so a slow shard is not enqueued twice) at a fraction of the cost.
Listing, sharding and enqueueing are the monitor kit's (taichu/jobs/monitor.py): shard
keys stay stable as clusters come and go, and a result is written only over an older one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters import events
from taichu.clusters.models import Cluster
from taichu.clusters.probe import ProbeResult, probe_cluster
from taichu.clusters.service import access_for, apply_probe
from taichu.config import Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.jobs.monitor import ShardedMonitor, is_newer
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.kube import ClusterAccess, ReadBudgetExhausted
from taichu.timeutil import utcnow

log = logging.getLogger("taichu.clusters.health")

PROBE_KIND = "cluster.health"
# Clusters an operator parked, or that are still being imported, are not probed.
NOT_PROBED = ("maintenance", "pending")


async def probed_ids(session: AsyncSession) -> Sequence[str]:
    return list(await session.scalars(select(Cluster.id).where(Cluster.status.not_in(NOT_PROBED))))


MONITOR = ShardedMonitor("cluster-health", PROBE_KIND, probed_ids, payload_key="cluster_ids")


async def enqueue_probes(session: AsyncSession, now: datetime) -> None:
    await MONITOR.enqueue(session, now)


async def probe_one(app: AppContext, cluster_id: str, access: ClusterAccess) -> ProbeResult | None:
    """What one probe saw; None for no verdict (the platform's read budget had no room:
    the cluster keeps its status, nothing is recorded, the next sweep tries again)."""
    settings = app.settings
    try:
        async with app.kube.client(cluster_id, access) as kube:
            return await probe_cluster(
                kube, settings.cluster_probe_timeout, settings.cluster_node_list_timeout
            )
    except ReadBudgetExhausted as e:
        log.warning("cluster %s: no health verdict this sweep: %s", cluster_id, e.message)
        return None
    except TaichuError as e:
        return ProbeResult(status="error", error=e.message)


async def record_results(
    session: AsyncSession, results: dict[str, ProbeResult], started_at: datetime
) -> int:
    """Write the outcomes of probes that started at `started_at`; returns how many were
    written. A cluster whose recorded probe started later keeps it (a slow shard never
    overwrites a newer result); the row lock orders concurrent writers on PostgreSQL."""
    written = 0
    clusters = await session.scalars(
        select(Cluster).where(Cluster.id.in_(list(results))).order_by(Cluster.id).with_for_update()
    )
    for cluster in clusters:
        if cluster.status in NOT_PROBED:
            continue  # parked or re-imported while we probed
        if not is_newer(cluster.last_probe_started_at, started_at):
            continue
        old = cluster.status
        apply_probe(cluster, results[cluster.id])
        cluster.last_probe_started_at = started_at
        written += 1
        if old != cluster.status:
            await events.record_transition(
                session, cluster.id, cluster.name, old, cluster.status, results[cluster.id].error
            )
    return written


async def probe_and_record(app: AppContext, ids: Sequence[str]) -> dict[str, int]:
    """Probe these clusters concurrently, each bounded by the probe's timeouts, and record
    every outcome in one short transaction."""
    started_at = utcnow()
    targets: dict[str, ClusterAccess] = {}
    async with app.read_sessions() as session:
        for cluster in await session.scalars(select(Cluster).where(Cluster.id.in_(list(ids)))):
            if cluster.status in NOT_PROBED:
                continue
            try:
                targets[cluster.id] = access_for(cluster, app)
            except TaichuError:
                continue  # registered by address: reached through bound tokens only
    gate = app.probe_gate

    async def bounded(cluster_id: str, access: ClusterAccess) -> tuple[str, ProbeResult | None]:
        async with gate:
            return cluster_id, await probe_one(app, cluster_id, access)

    outcomes = await asyncio.gather(*(bounded(i, a) for i, a in targets.items()))
    results = {i: result for i, result in outcomes if result is not None}
    async with transaction(app.sessions) as session:
        written = await record_results(session, results, started_at)
    return {"probed": len(results), "stale": len(results) - written}


async def probe_shard(job: JobContext) -> dict[str, int]:
    return await probe_and_record(job.app, list(job.payload.get("cluster_ids") or []))


def register(registry: JobRegistry, settings: Settings) -> None:
    MONITOR.register(registry, settings.health_interval, probe_shard)
