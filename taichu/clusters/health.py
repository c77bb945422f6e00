"""The health monitor. A periodic tick lists the clusters to probe and enqueues probe jobs
for them in shards; a shard job probes its clusters concurrently, each bounded by the probe
timeout (so one hung cluster never delays the others), and records every outcome in one
short transaction.

Why shards, not one job per cluster: each job costs a few write transactions of queue
bookkeeping; at 2,000 clusters on a 15 s heartbeat that alone is hundreds of write
transactions a second, which on SQLite saturates the process and starves API requests.
A shard keeps the isolation that matters (per-cluster timeout, concurrent probes, a
de-duplication key so a slow shard is not enqueued twice) at a fraction of the cost."""

from __future__ import annotations

import asyncio
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
from taichu.jobs import service as jobs
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.kube import ClusterAccess

PROBE_KIND = "cluster.health"
SHARD_SIZE = 50
# Clusters an operator parked, or that are still being imported, are not probed.
NOT_PROBED = ("maintenance", "pending")


async def enqueue_probes(session: AsyncSession, now: datetime) -> None:
    ids = list(
        await session.scalars(
            select(Cluster.id).where(Cluster.status.not_in(NOT_PROBED)).order_by(Cluster.id)
        )
    )
    for start in range(0, len(ids), SHARD_SIZE):
        shard = ids[start : start + SHARD_SIZE]
        await jobs.enqueue(
            session,
            PROBE_KIND,
            {"cluster_ids": shard},
            dedup_key=f"cluster-health:{shard[0]}",
            max_attempts=1,
        )


async def probe_one(app: AppContext, cluster_id: str, access: ClusterAccess) -> ProbeResult:
    timeout = app.settings.cluster_probe_timeout
    try:
        async with app.kube.client(cluster_id, access) as kube:
            return await asyncio.wait_for(probe_cluster(kube), timeout)
    except TimeoutError:
        return ProbeResult(status="disconnected", error=f"no answer within {timeout:g}s")
    except TaichuError as e:
        return ProbeResult(status="error", error=e.message)


async def record_results(session: AsyncSession, results: dict[str, ProbeResult]) -> None:
    clusters = await session.scalars(select(Cluster).where(Cluster.id.in_(list(results))))
    for cluster in clusters:
        if cluster.status in NOT_PROBED:
            continue  # parked or re-imported while we probed
        old = cluster.status
        apply_probe(cluster, results[cluster.id])
        if old != cluster.status:
            await events.record_transition(
                session, cluster.id, cluster.name, old, cluster.status, results[cluster.id].error
            )


async def probe_shard(job: JobContext) -> dict[str, int]:
    ids = list(job.payload.get("cluster_ids") or [])
    targets: dict[str, ClusterAccess] = {}
    async with job.app.read_sessions() as session:
        for cluster in await session.scalars(select(Cluster).where(Cluster.id.in_(ids))):
            if cluster.status in NOT_PROBED:
                continue
            try:
                targets[cluster.id] = access_for(cluster, job.app.box)
            except TaichuError:
                continue  # registered by address: reached through bound tokens only
    # One gate for the whole process: probes share the event loop with API requests, and
    # a few hundred in flight would queue every request behind their callbacks.
    gate = job.app.extras.setdefault(
        "probe_gate", asyncio.Semaphore(job.app.settings.cluster_probe_concurrency)
    )

    async def bounded(cluster_id: str, access: ClusterAccess) -> tuple[str, ProbeResult]:
        async with gate:
            return cluster_id, await probe_one(job.app, cluster_id, access)

    results = dict(await asyncio.gather(*(bounded(i, a) for i, a in targets.items())))
    async with transaction(job.sessions) as session:
        await record_results(session, results)
    return {"probed": len(results)}


def register(registry: JobRegistry, settings: Settings) -> None:
    registry.handler(PROBE_KIND, max_attempts=1)(probe_shard)
    registry.periodic("cluster-health", settings.health_interval, enqueue_probes)
