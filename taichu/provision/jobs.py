"""Job kinds of provisioning: `provision.create` (run a task's pipeline, then register the
cluster) and `provision.teardown` (remove what the installer put on a created cluster's
machines, release them, delete the cluster). Both are durable: a job whose process died
is started again (`provision.job_attempts`) and resumes from the journal."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters import events as cluster_events
from taichu.clusters import service as clusters
from taichu.clusters.models import Cluster
from taichu.clusters.probe import MAX_ERROR_LENGTH
from taichu.config import Settings
from taichu.db.base import CANCELLED, COMPLETED
from taichu.db.session import transaction
from taichu.jobs import tracked
from taichu.jobs.errors import PermanentJobError
from taichu.jobs.jobcontext import JobContext
from taichu.jobs.registry import JobRegistry
from taichu.kube import parse_kubeconfig, render_kubeconfig
from taichu.machines import service as machine_service
from taichu.machines.models import Machine
from taichu.provision import bundles, engine
from taichu.provision.models import CreateTask, CreateTaskMachine
from taichu.provision.plan import (
    ClusterPlan,
    NodePlan,
    Step,
    StepContext,
    StepFailed,
    all_nodes,
)
from taichu.provision.runtime import EngineContext, Run, TaskLog
from taichu.provision.service import CREATE_KIND, set_machine_status
from taichu.provision.validation import etcd_member

TEARDOWN_KIND = "provision.teardown"
REGISTER_TITLE = "Registering the cluster"


def teardown_dedup_key(cluster_id: str) -> str:
    return f"teardown:{cluster_id}"


# --- the plan ------------------------------------------------------------------------------


async def load_run(
    job: JobContext, task_id: str, *, with_bundle: bool = True, ended: bool = False
) -> Run | None:
    """The task's plan (machines' credentials decrypted, bundle verified, PKI made once
    and kept encrypted on the task); None when the task has ended already, unless
    `ended` (an expansion's run over its cluster's completed task)."""
    app = job.app
    pipeline = engine.load_pipeline(app.settings.provision.pipeline)
    async with app.read_sessions() as session:
        task = await session.get(CreateTask, task_id)
        if task is None:
            raise PermanentJobError("create task vanished")
        members = list(
            await session.scalars(
                select(CreateTaskMachine)
                .where(CreateTaskMachine.task_id == task_id)
                .order_by(CreateTaskMachine.position)
            )
        )
        active, request, pki_blob = task.is_active, dict(task.request), task.pki_encrypted
        fields = (task.cluster_id or "", task.cluster_name, task.kubernetes_version)
        plugin, runtime, artifact = task.network_plugin, task.container_runtime, task.artifact_name
    if with_bundle and not active and not ended:
        return None
    targets = await engine.targets_of(app, [m.machine_id for m in members])
    has_etcd = any(m.role == "etcd" for m in members)
    nodes = tuple(
        NodePlan(
            machine_id=m.machine_id,
            name=m.node_name,
            address=m.address,
            role=m.role,
            etcd_member=etcd_member(m.role, has_etcd),
            target=targets[m.machine_id][1],
        )
        for m in members
    )
    bundle = await bundles.open_named(app.settings, artifact) if with_bundle else None
    network = request.get("network", {})
    kubernetes = request.get("kubernetes", {})
    service_cidr = network["service_cidr"]
    plan = ClusterPlan(
        task_id=task_id,
        cluster_id=fields[0],
        cluster_name=fields[1],
        kubernetes_version=fields[2],
        network_plugin=plugin,
        container_runtime=runtime,
        pods_cidr=network["pods_cidr"],
        service_cidr=service_cidr,
        cluster_dns=str(ipaddress.ip_network(service_cidr).network_address + 10),
        cluster_domain="cluster.local",
        api_port=6443,
        image_repo=kubernetes.get("image_repo") or None,
        with_packages=bool(request.get("with_packages")),
        bundle=bundle,
        nodes=nodes,
    )
    if pki_blob:
        text = app.box.decrypt(pki_blob)
        pki = await asyncio.to_thread(pipeline.load_pki, text)
    else:
        pki = await asyncio.to_thread(pipeline.new_pki, plan)
        blob = app.box.encrypt(await asyncio.to_thread(pki.to_json))
        async with transaction(app.sessions) as session:
            record = await session.get(CreateTask, task_id)
            if record is not None and record.pki_encrypted is None:
                record.pki_encrypted = blob
    keep = app.settings.provision.log_lines_per_task
    names = {mid: name for mid, (name, _) in targets.items()}
    return Run(app, plan, pki, TaskLog(app, task_id, keep), names)


# --- create ------------------------------------------------------------------------------


async def register_cluster(ctx: StepContext, _: NodePlan | None) -> None:
    """The last step: the cluster's admin kubeconfig (encrypted, exactly as a registration
    stores one), a first probe, machines `in_use`, the task completed."""
    assert isinstance(ctx, EngineContext)
    app, plan = ctx.app, ctx.plan
    text = await asyncio.to_thread(ctx.pki.admin_kubeconfig, plan.api_server)
    access = await asyncio.to_thread(parse_kubeconfig, text)
    # Every master's API server: the platform fails over to the others when the first
    # cannot be connected to (a single master has none).
    access = access.with_fallbacks([f"https://{m.address}:{plan.api_port}" for m in plan.masters()])
    try:
        result = await clusters.reach(app, f"new:{plan.cluster_id}", access)
    finally:
        await app.kube.invalidate(f"new:{plan.cluster_id}")
    await ctx.log(None, f"API server {access.server}: {result.status}")
    async with ctx.run_state.log.closing_transaction() as session:  # ends with its log written
        task = await session.get(CreateTask, plan.task_id)
        cluster = await session.get(Cluster, plan.cluster_id)
        if task is None or cluster is None:
            raise StepFailed(None, REGISTER_TITLE, "the cluster was deleted during its creation")
        request = task.request or {}
        cluster.kubeconfig_encrypted = app.box.encrypt(render_kubeconfig(access, cluster.name))
        cluster.api_server_url = access.server
        cluster.fallback_api_servers = list(access.fallback_servers) or None
        cluster.labels = request.get("labels", cluster.labels)
        cluster.environment_type = request.get("environment_type", cluster.environment_type)
        clusters.apply_probe(cluster, result)
        for node in plan.nodes:
            machine = await session.get(Machine, node.machine_id)
            if machine is not None:
                await set_machine_status(
                    session, machine, "in_use", f"node of cluster {cluster.name}"
                )
        task.end(COMPLETED)
        await cluster_events.record(
            session,
            cluster.id,
            reason="Created",
            severity="info",
            message=f"Cluster {cluster.name} created from {len(plan.nodes)} machines "
            f"(Kubernetes {plan.kubernetes_version})",
        )


REGISTER = Step("register", REGISTER_TITLE, 2, None, register_cluster)


async def run_create(job: JobContext) -> dict[str, Any]:
    task_id = job.payload["task_id"]
    run = await load_run(job, task_id)
    if run is None:
        return {"task_id": task_id, "skipped": "the task had ended"}
    pipeline = engine.load_pipeline(job.app.settings.provision.pipeline)
    await engine.run_pipeline(job, run, [*pipeline.steps, REGISTER])
    return {"task_id": task_id, "cluster_id": run.plan.cluster_id}


async def release(session: AsyncSession, task: CreateTask, status: str) -> None:
    """A task ended without a cluster: its machines are `available` again; the cluster
    row stays (status `error`) for a retry or a teardown."""
    members = await session.scalars(
        select(CreateTaskMachine).where(CreateTaskMachine.task_id == task.id)
    )
    for member in members:
        machine = await session.get(Machine, member.machine_id)
        if machine is not None and machine.status == "deploying":
            await set_machine_status(
                session, machine, "available", f"create task {task.id} {status}"
            )
            await machine_service.enqueue_check(session, machine.id)
    cluster = await session.get(Cluster, task.cluster_id) if task.cluster_id else None
    if cluster is not None and cluster.status == "pending":
        why = task.error_message if status != CANCELLED else "creation cancelled"
        cluster.status = "error"
        cluster.last_probe_error = (why or status)[:MAX_ERROR_LENGTH]
        await cluster_events.record_transition(
            session, cluster.id, cluster.name, "pending", "error", f"creation {status}"
        )


# --- teardown ------------------------------------------------------------------------------


async def owned_machines(session: AsyncSession, cluster_id: str) -> list[CreateTaskMachine]:
    """The machines whose latest task built this cluster (a machine released by a failed
    task and taken by another cluster since is not this cluster's to tear down)."""
    tasks = select(CreateTask.id).where(CreateTask.cluster_id == cluster_id)
    members = list(
        await session.scalars(select(CreateTaskMachine).where(CreateTaskMachine.task_id.in_(tasks)))
    )
    owned = []
    for member in members:
        latest = await session.scalar(
            select(CreateTask.cluster_id)
            .join(CreateTaskMachine, CreateTaskMachine.task_id == CreateTask.id)
            .where(CreateTaskMachine.machine_id == member.machine_id)
            .order_by(CreateTask.created_at.desc())
            .limit(1)
        )
        if latest == cluster_id and member.machine_id not in {m.machine_id for m in owned}:
            owned.append(member)
    return owned


async def run_teardown(job: JobContext) -> dict[str, Any]:
    cluster_id, task_id = job.payload["cluster_id"], job.payload["task_id"]
    run = await load_run(job, task_id, with_bundle=False)
    assert run is not None
    async with job.app.read_sessions() as session:
        owned = {m.machine_id for m in await owned_machines(session, cluster_id)}
    pipeline = engine.load_pipeline(job.app.settings.provision.pipeline)

    async def teardown(ctx: StepContext, node: NodePlan | None) -> None:
        assert node is not None
        await pipeline.teardown(ctx, node)

    step = Step(
        f"teardown-{job.job_id[:8]}",
        "Tearing down",
        1,
        lambda plan: [n for n in all_nodes(plan) if n.machine_id in owned],
        teardown,
    )
    flusher = asyncio.create_task(run.log.flusher())
    try:
        await engine.run_step(run, step)
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
        await run.log.flush()
        await run.close()
    async with transaction(job.sessions) as session:
        for machine_id in owned:
            machine = await session.get(Machine, machine_id)
            if machine is not None and machine.status in ("deploying", "in_use"):
                await set_machine_status(session, machine, "available", "cluster torn down")
                await machine_service.enqueue_check(session, machine.id)
        if await session.get(Cluster, cluster_id) is not None:
            await clusters.delete_cluster(job.app, session, cluster_id)
    return {"cluster_id": cluster_id, "machines": sorted(owned)}


async def teardown_failed(session: AsyncSession, job: JobContext, error: str) -> None:
    """The cluster stays (status `error`, saying why) and its machines get back the status
    they had, so the teardown can be asked again once the machine is fixed."""
    cluster = await session.get(Cluster, job.payload.get("cluster_id"))
    if cluster is not None:
        cluster.status = "error"
        cluster.last_probe_error = f"teardown failed: {error}"[:MAX_ERROR_LENGTH]
        await cluster_events.record(
            session, cluster.id, reason="TeardownFailed", severity="error", message=error[:2000]
        )
    for machine_id, status in (job.payload.get("machines") or {}).items():
        machine = await session.get(Machine, machine_id)
        if machine is not None and machine.status == "deploying":
            await set_machine_status(session, machine, status, "teardown failed")


def register(registry: JobRegistry, settings: Settings) -> None:
    # A step failure is permanent (PermanentJobError); more attempts only resume a run
    # whose process died. One attempt's bound: every step's timeout, generously.
    registry.handler(CREATE_KIND, max_attempts=settings.provision.job_attempts)(run_create)
    tracked.track_ends(registry, CREATE_KIND, CreateTask, "task_id", after_end=release)
    registry.handler(TEARDOWN_KIND, max_attempts=settings.provision.job_attempts)(run_teardown)
    registry.on_failed(TEARDOWN_KIND)(teardown_failed)


__all__ = ["REGISTER", "TEARDOWN_KIND", "register", "release"]
