"""`DELETE /clusters/{id}/nodes/{nodeName}` on a created cluster: job `provision.remove_node`
cordons the node, drains it (`taichu.provision.drain`), deletes the Node, runs the
installer's teardown on its machine (a step of the create task's journal, with its log)
and gives the machine back (`available`). A failure before the Node is deleted uncordons
it and leaves the machine `in_use`; after, the machine is `error` saying what is left."""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.clusters import events as cluster_events
from taichu.clusters import service as clusters
from taichu.clusters.models import Cluster
from taichu.clusters.probe import probe_cluster
from taichu.context import AppContext
from taichu.db.base import COMPLETED, PENDING
from taichu.db.session import transaction
from taichu.errors import Conflict, Invalid, NotFound
from taichu.jobs import service as jobs
from taichu.jobs import tracked
from taichu.jobs.errors import PermanentJobError
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.registry import JobRegistry
from taichu.kube import ClusterNotFound
from taichu.machines import service as machine_service
from taichu.machines.models import Machine
from taichu.provision import drain, engine
from taichu.provision.expansion import created_cluster, step_prefix
from taichu.provision.expansion_models import NodeRemoval
from taichu.provision.jobs import load_run, owned_machines
from taichu.provision.models import CreateTaskMachine
from taichu.provision.plan import MASTER, NodePlan, Step, StepContext
from taichu.provision.service import set_machine_status

REMOVE_KIND = "provision.remove_node"
MAX_DRAIN_TIMEOUT = 86400.0


async def request_removal(
    ctx: AppContext,
    session: AsyncSession,
    principal: Principal,
    cluster_id: str,
    node_name: str,
    *,
    force: bool,
    drain_seconds: float | None,
) -> NodeRemoval:
    if drain_seconds is not None and not 0 < drain_seconds <= MAX_DRAIN_TIMEOUT:
        raise Invalid(
            f"timeout: {drain_seconds:g} must be more than 0 and at most {MAX_DRAIN_TIMEOUT:g}"
        )
    async with ctx.read_sessions() as reads:
        cluster, _ = await created_cluster(reads, principal, cluster_id, "node removal")
        owned = await owned_machines(reads, cluster.id)
    member = next((m for m in owned if m.node_name == node_name[:63]), None)
    if member is None:
        access = clusters.access_for(cluster, ctx)
        async with ctx.kube.client(cluster.id, access) as kube:
            try:
                await kube.get(f"/api/v1/nodes/{node_name[:253]}")
            except ClusterNotFound:
                raise NotFound(
                    f"node {node_name[:253]} not found in cluster {cluster.name}"
                ) from None
        raise Invalid(
            f"nodeName: node {node_name[:253]} of cluster {cluster.name} was not created by the "
            "platform (it is none of the cluster's machines): remove it where it was added"
        )
    masters = [m for m in owned if m.role == MASTER]
    if member.role == MASTER and len(masters) <= 1:
        raise Conflict(
            f"node {member.node_name} is the last member of the control plane of cluster "
            f"{cluster.name}: it cannot be removed (tear the cluster down instead)"
        )
    if member.role != "worker":
        raise Invalid(
            f"nodeName: node {member.node_name} is a {member.role}: only workers can be removed "
            "(the control plane's and etcd's membership stays as the cluster was created)"
        )
    await created_cluster(session, principal, cluster.id, "node removal", lock=True)
    machine = await machine_service.get_machine(session, member.machine_id, for_update=True)
    if machine.status != "in_use":
        raise Conflict(
            f"node removal: machine {machine.name} ({machine.ip_address}) is {machine.status}, "
            "not in_use"
        )
    await set_machine_status(session, machine, "deploying", f"leaving cluster {cluster.name}")
    record = NodeRemoval(
        cluster_id=cluster.id,
        task_id=member.task_id,
        node_name=member.node_name,
        machine_id=member.machine_id,
        force=force,
        drain_timeout_seconds=drain_seconds or ctx.settings.provision.drain_timeout_seconds,
        drained={},
        requested_by=principal.username,
        status=PENDING,
        progress=0,
        current_step="Queued",
    )
    session.add(record)
    await session.flush()
    job = await jobs.enqueue(
        session,
        REMOVE_KIND,
        {"removal_id": record.id},
        max_attempts=ctx.settings.provision.job_attempts,
    )
    record.job_id = job.id
    audit.note(
        resource="node",
        resource_id=member.node_name,
        cluster_id=cluster.id,
        details={"force": force, "timeout": record.drain_timeout_seconds, "removal_id": record.id},
    )
    return record


async def get_removal(session: AsyncSession, cluster_id: str, removal_id: str) -> NodeRemoval:
    record = await session.scalar(
        select(NodeRemoval).where(
            NodeRemoval.id == removal_id[:64], NodeRemoval.cluster_id == cluster_id
        )
    )
    if record is None:
        raise NotFound(f"node removal {removal_id[:64]} of cluster {cluster_id[:64]} not found")
    return record


# --- the job -------------------------------------------------------------------------------


async def _report(
    job: JobContext, removal_id: str, progress: float, step: str, **values: Any
) -> None:
    def update(record: NodeRemoval) -> None:
        for name, value in values.items():
            setattr(record, name, value)

    await tracked.report(
        job, NodeRemoval, removal_id, progress, step, update=update, missing="node removal vanished"
    )


async def run_remove(job: JobContext) -> dict[str, Any]:
    app = job.app
    removal_id = job.payload["removal_id"]
    async with app.read_sessions() as session:
        record = await session.get(NodeRemoval, removal_id)
        if record is None:
            raise PermanentJobError("node removal vanished")
        if not record.is_active:
            return {"removal_id": removal_id, "skipped": "the removal had ended"}
        cluster = await session.get(Cluster, record.cluster_id)
        if cluster is None:
            raise PermanentJobError("the cluster was deleted")
        access = clusters.access_for(cluster, app)
        node_name, task_id, machine_id = record.node_name, record.task_id, record.machine_id
        cluster_id = record.cluster_id
        force, timeout, drained = record.force, record.drain_timeout_seconds, dict(record.drained)
    say_lines: list[str] = []
    run = await load_run(job, task_id, with_bundle=False)
    assert run is not None
    step_name = f"{step_prefix(removal_id)}drain"

    async def say(line: str) -> None:
        say_lines.append(line)
        run.log.add(node_name, step_name, line)

    try:
        if not drained.get("node_deleted"):
            async with app.kube.client(cluster.id, access) as kube:
                await _report(job, removal_id, 5, "Cordoning the node")
                present = await drain.cordon(kube, node_name)
                if present:
                    await _report(job, removal_id, 10, "Draining the node")
                    try:
                        result = await drain.drain(kube, node_name, timeout, force, say)
                    except drain.DrainFailed as e:
                        await drain.cordon(kube, node_name, unschedulable=False)
                        raise PermanentJobError(f"node {node_name}: {e}") from e
                    drained = {**result.to_json()}
                    await _report(job, removal_id, 60, "Deleting the node", drained=drained)
                    with contextlib.suppress(ClusterNotFound):
                        await kube.delete(f"/api/v1/nodes/{node_name}")
                drained["node_deleted"] = True  # type: ignore[assignment]
                await say("node deleted")
            await _report(job, removal_id, 70, "Cleaning the machine", drained=drained)
        node = next(n for n in run.plan.nodes if n.machine_id == machine_id)
        pipeline = engine.load_pipeline(app.settings.provision.pipeline)

        async def teardown(ctx: StepContext, target: NodePlan | None) -> None:
            assert target is not None
            await pipeline.teardown(ctx, target)

        step = Step(
            f"{step_prefix(removal_id)}teardown",
            "Cleaning the machine",
            1,
            lambda plan: [node],
            teardown,
        )
        await engine.run_step(run, step)
    finally:
        await run.log.flush()
        await run.close()
    result_probe = None
    async with app.kube.client(cluster.id, access) as kube:
        result_probe = await probe_cluster(
            kube, app.settings.cluster_probe_timeout, app.settings.cluster_node_list_timeout
        )
    async with transaction(job.sessions) as session:
        await session.execute(
            delete(CreateTaskMachine).where(
                CreateTaskMachine.task_id == task_id, CreateTaskMachine.machine_id == machine_id
            )
        )
        machine = await session.get(Machine, machine_id)
        live = await session.get(Cluster, cluster_id)
        name = live.name if live is not None else cluster_id
        if machine is not None:
            await set_machine_status(session, machine, "available", f"removed from cluster {name}")
            await machine_service.enqueue_check(session, machine.id)
        if live is not None:
            clusters.apply_probe(live, result_probe)
            await cluster_events.record(
                session,
                live.id,
                reason="NodeRemoved",
                severity="info",
                message=f"Node {node_name} removed from cluster {name}; machine released",
            )
        done = await session.get(NodeRemoval, removal_id)
        if done is not None:
            done.drained = drained
            done.end(COMPLETED)
    return {"removal_id": removal_id, **{k: v for k, v in drained.items() if k != "node_deleted"}}


async def removal_failed(session: AsyncSession, record: NodeRemoval, status: str) -> None:
    """Before the Node was deleted the machine is still the cluster's (`in_use`); after,
    it is out of the cluster with the installer's files left: `error`, saying so."""
    machine = await session.get(Machine, record.machine_id)
    if machine is None or machine.status != "deploying":
        return
    if (record.drained or {}).get("node_deleted"):
        await set_machine_status(
            session,
            machine,
            "error",
            f"node {record.node_name} was removed from its cluster but cleaning the machine "
            f"failed: {record.error_message[:500]}; clean it, then set it available",
        )
    else:
        await set_machine_status(session, machine, "in_use", f"node removal {status}")


def register(registry: JobRegistry, max_attempts: int) -> None:
    registry.handler(REMOVE_KIND, max_attempts=max_attempts)(run_remove)
    tracked.track_ends(registry, REMOVE_KIND, NodeRemoval, "removal_id", after_end=removal_failed)
