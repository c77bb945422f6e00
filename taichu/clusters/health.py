"""The health monitor: a periodic tick enqueues one probe job per cluster; each job probes
with a timeout and records what it saw. One unreachable cluster never delays the others:
each is its own job, bounded by the probe timeout."""

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
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.jobs import service as jobs
from taichu.jobs.registry import JobContext, JobRegistry

PROBE_KIND = "cluster.health"
# Clusters an operator parked, or that are still being imported, are not probed.
NOT_PROBED = ("maintenance", "pending")


async def enqueue_probes(session: AsyncSession, now: datetime) -> None:
    ids = await session.scalars(select(Cluster.id).where(Cluster.status.not_in(NOT_PROBED)))
    for cluster_id in ids:
        await jobs.enqueue(
            session, PROBE_KIND, {"cluster_id": cluster_id},
            dedup_key=f"cluster-health:{cluster_id}", max_attempts=1,
        )


async def probe_and_record(job: JobContext) -> dict[str, str] | None:
    cluster_id = job.payload["cluster_id"]
    async with transaction(job.sessions) as session:
        cluster = await session.get(Cluster, cluster_id)
        if cluster is None or cluster.status in NOT_PROBED:
            return None
        try:
            access = access_for(cluster, job.app.box)
        except TaichuError:
            return None  # runtime-registered by address: probed through bound tokens only
    timeout = job.app.settings.cluster_probe_timeout
    try:
        async with job.app.kube.client(cluster_id, access) as kube:
            result = await asyncio.wait_for(probe_cluster(kube), timeout)
    except TimeoutError:
        result = ProbeResult(status="disconnected", error=f"no answer within {timeout:g}s")
    async with transaction(job.sessions) as session:
        cluster = await session.get(Cluster, cluster_id)
        if cluster is None or cluster.status in NOT_PROBED:
            return None
        old = cluster.status
        apply_probe(cluster, result)
        if old != cluster.status:
            await events.record_transition(
                session, cluster.id, cluster.name, old, cluster.status, result.error
            )
    return {"status": result.status}


def register(registry: JobRegistry, settings: Settings) -> None:
    registry.handler(PROBE_KIND, max_attempts=1)(probe_and_record)
    registry.periodic("cluster-health", settings.health_interval, enqueue_probes)
