"""Job kind `provision.expand`: the pipeline's join steps over the joining machines of a
created cluster, on the create task's engine and journal (step names prefixed with the
expansion's id, so a retry of the job resumes and another expansion starts afresh).

A join that fails or is cancelled leaves the cluster as it was: the Nodes the joining
machines registered are deleted and the installer's teardown runs on them (a machine
that cannot be reached is named in the error), then the machines are `available` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters import events as cluster_events
from taichu.clusters import service as clusters
from taichu.clusters.models import Cluster
from taichu.clusters.probe import probe_cluster
from taichu.db.base import CANCELLED, COMPLETED
from taichu.errors import TaichuError
from taichu.jobs import tracked
from taichu.jobs.errors import JobCancelled, PermanentJobError
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.registry import JobRegistry
from taichu.kube import ClusterNotFound
from taichu.machines import service as machine_service
from taichu.machines.models import Machine
from taichu.provision import engine
from taichu.provision.expansion import EXPAND_KIND, step_prefix
from taichu.provision.expansion_models import ClusterExpansion
from taichu.provision.jobs import load_run
from taichu.provision.models import CreateTask, CreateTaskMachine
from taichu.provision.plan import NodePlan, Step, StepContext, StepFailed, joining_nodes
from taichu.provision.runtime import EngineContext, Run
from taichu.provision.service import set_machine_status

log = logging.getLogger("taichu.provision")
FINISH_TITLE = "Finishing the expansion"


def scoped(step: Step, run_id: str) -> Step:
    """The step under the run's own journal name."""
    return dataclasses.replace(step, name=f"{step_prefix(run_id)}{step.name}"[:64])


async def finish(ctx: StepContext, _: NodePlan | None) -> None:
    """The last step: machines `in_use`, the grown PKI kept, the cluster probed again
    (node count and totals now), the expansion completed."""
    assert isinstance(ctx, EngineContext)
    app, plan, run = ctx.app, ctx.plan, ctx.run_state
    _, expansion_id = run.run_record
    async with app.read_sessions() as session:
        cluster = await session.get(Cluster, plan.cluster_id)
        access = clusters.access_for(cluster, app) if cluster is not None else None
    result = None
    if access is not None:
        async with app.kube.client(plan.cluster_id, access) as kube:
            result = await probe_cluster(
                kube, app.settings.cluster_probe_timeout, app.settings.cluster_node_list_timeout
            )
    pki_blob = app.box.encrypt(await asyncio.to_thread(ctx.pki.to_json))
    async with ctx.run_state.log.closing_transaction() as session:  # ends with its log written
        record = await session.get(ClusterExpansion, expansion_id)
        cluster = await session.get(Cluster, plan.cluster_id)
        task = await session.get(CreateTask, plan.task_id)
        if record is None or cluster is None or task is None:
            raise StepFailed(None, FINISH_TITLE, "the cluster was deleted during its expansion")
        task.pki_encrypted = pki_blob  # with the joined nodes' serving certificates
        if result is not None:
            clusters.apply_probe(cluster, result)
        for node in plan.joining_nodes():
            machine = await session.get(Machine, node.machine_id)
            if machine is not None:
                await set_machine_status(
                    session, machine, "in_use", f"node of cluster {cluster.name}"
                )
        record.end(COMPLETED)
        await cluster_events.record(
            session,
            cluster.id,
            reason="Expanded",
            severity="info",
            message=f"Cluster {cluster.name} joined "
            + ", ".join(n.name for n in plan.joining_nodes()),
        )


FINISH = Step("finish", FINISH_TITLE, 1, None, finish)


async def _expansion(job: JobContext, expansion_id: str) -> ClusterExpansion | None:
    async with job.app.read_sessions() as session:
        record = await session.get(ClusterExpansion, expansion_id)
        if record is None:
            raise PermanentJobError("expansion vanished")
        session.expunge(record)
        return record


async def run_expand(job: JobContext) -> dict[str, Any]:
    expansion_id = job.payload["expansion_id"]
    record = await _expansion(job, expansion_id)
    assert record is not None
    if not record.is_active:
        return {"expansion_id": expansion_id, "skipped": "the expansion had ended"}
    run = await load_run(job, record.task_id, ended=True)
    assert run is not None
    ids = frozenset(m["machine_id"] for m in record.machines)
    run.plan = dataclasses.replace(run.plan, joining=ids)
    run.record = (ClusterExpansion, expansion_id)
    pipeline = engine.load_pipeline(job.app.settings.provision.pipeline)
    if not pipeline.join_steps:
        raise PermanentJobError(
            f"the installer pipeline {job.app.settings.provision.pipeline} cannot join machines"
        )
    steps = [scoped(s, expansion_id) for s in (*pipeline.join_steps, FINISH)]
    try:
        await engine.run_pipeline(job, run, steps)
    except (PermanentJobError, JobCancelled) as e:
        note = await roll_back(job, run, expansion_id)
        if isinstance(e, JobCancelled):
            raise
        raise PermanentJobError(f"{e}{note}") from e
    return {"expansion_id": expansion_id, "nodes": sorted(n.name for n in run.plan.joining_nodes())}


async def roll_back(job: JobContext, run: Run, expansion_id: str) -> str:
    """Undo a join that did not complete: the installer's teardown on the joining machines
    (their kubelets stopped first, so none registers its Node again), then their Nodes
    deleted. Returns what could not be undone (for the error)."""
    app, plan = job.app, run.plan
    problems: list[str] = []
    pipeline = engine.load_pipeline(app.settings.provision.pipeline)

    async def teardown(ctx: StepContext, node: NodePlan | None) -> None:
        assert node is not None
        await pipeline.teardown(ctx, node)

    step = Step(
        f"{step_prefix(expansion_id)}rollback-{job.job_id[:8]}",
        "Rolling back",
        1,
        joining_nodes,
        teardown,
    )
    try:
        await engine.run_step(run, step)
    except PermanentJobError as e:
        problems.append(f"cleaning a machine failed: {e}")
    async with app.read_sessions() as session:
        cluster = await session.get(Cluster, plan.cluster_id)
        access = clusters.access_for(cluster, app) if cluster is not None else None
    try:
        if access is not None:
            async with app.kube.client(plan.cluster_id, access) as kube:
                for node in plan.joining_nodes():
                    with contextlib.suppress(ClusterNotFound):
                        await kube.delete(f"/api/v1/nodes/{node.name}")
                        run.log.add(node.name, step.name, "node deleted")
    except TaichuError as e:
        problems.append(f"the joined Nodes could not be deleted: {e.message}")
    finally:
        await run.log.flush()
        await run.close()
    return f"\n(rolled back; {'; '.join(problems)})" if problems else "\n(rolled back)"


async def release(session: AsyncSession, record: ClusterExpansion, status: str) -> None:
    """An expansion ended without completing: its machines are no members of the cluster
    and `available` again (a check follows: one that cannot be reached shows so)."""
    ids = [m["machine_id"] for m in record.machines]
    await session.execute(
        delete(CreateTaskMachine).where(
            CreateTaskMachine.task_id == record.task_id, CreateTaskMachine.machine_id.in_(ids)
        )
    )
    for machine_id in ids:
        machine = await session.get(Machine, machine_id)
        if machine is not None and machine.status == "deploying":
            await set_machine_status(
                session, machine, "available", f"expansion {record.id} {status}"
            )
            await machine_service.enqueue_check(session, machine.id)
    cluster = await session.get(Cluster, record.cluster_id)
    if cluster is not None:
        why = "cancelled" if status == CANCELLED else (record.error_message or status)
        await cluster_events.record(
            session,
            cluster.id,
            reason="ExpansionCancelled" if status == CANCELLED else "ExpansionFailed",
            severity="info" if status == CANCELLED else "error",
            message=f"Expansion {record.id} of {cluster.name}: {why}"[:2000],
        )


def register(registry: JobRegistry, max_attempts: int) -> None:
    registry.handler(EXPAND_KIND, max_attempts=max_attempts)(run_expand)
    tracked.track_ends(registry, EXPAND_KIND, ClusterExpansion, "expansion_id", after_end=release)
