"""Create tasks: validate a request (nothing is stored unless every rule passes), store
the task with its pending cluster, machines `deploying` and the job; list, show, retry
and cancel tasks. The work itself is `taichu.provision.engine`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.clusters import events as cluster_events
from taichu.clusters.models import SOURCE_CREATED, Cluster
from taichu.clusters.service import name_taken, store_new
from taichu.context import AppContext
from taichu.db.base import CANCELLED, COMPLETED, PENDING
from taichu.errors import Conflict, Invalid, NotFound
from taichu.jobs import service as jobs
from taichu.machines import events as machine_events
from taichu.machines import service as machines
from taichu.machines.models import Machine
from taichu.machines.preflight_report import PreflightPolicy
from taichu.machines.preflight_service import run_preflight, validate_request
from taichu.provision import bundles, validation
from taichu.provision.models import (
    CreateTask,
    CreateTaskLog,
    CreateTaskMachine,
    CreateTaskStep,
)
from taichu.provision.schemas import CreateClusterIn
from taichu.provision.validation import MachineView
from taichu.timeutil import rfc3339

CREATE_KIND = "provision.create"
# The installer supervises services itself where there is no systemd (lab hosts, minimal
# images); without br_netfilter bridged pod traffic bypasses iptables, which the probe on
# such a kernel showed clusters survive (DNS and pod-to-pod worked): both only warn here.
CREATE_PREFLIGHT = PreflightPolicy(
    supervised_without_systemd=True, optional_modules=("br_netfilter",)
)
INITIAL_STEP = "Initializing"


def task_dedup_key(task_id: str) -> str:
    return f"create-task:{task_id}"


@dataclass(frozen=True)
class Checked:
    """A request that passed every rule."""

    views: list[MachineView]
    node_names: dict[str, str]
    networks: validation.Networks
    bundle_name: str
    kubernetes_version: str
    network_plugin: str
    runtime: str


def _view(m: Machine) -> MachineView:
    return MachineView(m.id, m.name, m.ip_address, m.internal_address, m.role, m.status)


async def check_request(ctx: AppContext, body: CreateClusterIn) -> Checked:
    """Every rule, cheapest first; raises (409/422 naming the field) on the first broken
    one. Reads in a session of its own and talks to the machines with none open."""
    validate_request(body.machine_ids, None)
    async with ctx.read_sessions() as session:
        if await name_taken(session, body.cluster_name):
            raise Conflict(f"cluster_name: a cluster named '{body.cluster_name}' already exists")
        pairs = await machines.machine_targets(session, body.machine_ids, ctx.box)
        views = [_view(m) for m, _ in pairs]
    names = validation.check_machines(views)
    networks = validation.check_networks(body.network.pods_cidr, body.network.service_cidr, views)
    bundle = await bundles.open_named(ctx.settings, body.artifact_path)
    name = bundles.bundle_name(bundle)
    version, plugin, runtime = validation.check_bundle(
        bundle.manifest,
        name,
        body.kubernetes.version,
        body.network.plugin,
        body.kubernetes.container_manager,
    )
    report = await run_preflight(ctx, body.machine_ids, policy=CREATE_PREFLIGHT)
    if not report.passed:
        failed = "; ".join(f"{c.name}: {c.message}" for c in report.failures()[:20])
        raise Invalid(f"machine_ids: preflight failed: {failed}")
    return Checked(views, names, networks, name, version, plugin, runtime)


async def _hold_machines(
    session: AsyncSession, ids: list[str], why: str, *, allowed: tuple[str, ...] = ("available",)
) -> list[Machine]:
    """Lock the machines and make them `deploying`; Invalid naming one that is no longer
    in an allowed status (another request took it meanwhile)."""
    held = []
    for machine_id in ids:
        m = await machines.get_machine(session, machine_id, for_update=True)
        if m.status not in allowed:
            raise Invalid(
                f"machine_ids: machine {m.name} ({m.ip_address}) is {m.status}, not available"
            )
        held.append(m)
    for m in held:
        await set_machine_status(session, m, "deploying", why)
    return held


async def set_machine_status(session: AsyncSession, m: Machine, status: str, why: str) -> None:
    """The cluster lifecycle's statuses (deploying, in_use, back to available)."""
    old = m.status
    if old == status:
        return
    m.status, m.status_message, m.status_source = status, why, "check"
    await session.flush()
    await machine_events.record_transition(
        session, m.id, m.name, old, status, why, component="provision"
    )


async def create_task(
    ctx: AppContext, session: AsyncSession, body: CreateClusterIn, owner: Principal
) -> CreateTask:
    checked = await check_request(ctx, body)  # before the first write: nothing held
    master = next(v for v in checked.views if v.role == validation.MASTER)
    cluster = Cluster(
        name=body.cluster_name,
        description=body.description,
        labels=body.labels,
        source=SOURCE_CREATED,
        environment_type=body.environment_type,
        status="pending",
        api_server_url=f"https://{master.address}:6443",
        created_by=owner.username,
        owner_id=owner.user_id,
        shared=owner.is_admin,
    )
    await store_new(session, cluster)
    request: dict[str, Any] = body.model_dump(mode="json")
    request["network"].update(
        pods_cidr=checked.networks.pods_cidr, service_cidr=checked.networks.service_cidr
    )
    task = CreateTask(
        cluster_name=body.cluster_name,
        description=body.description,
        cluster_id=cluster.id,
        kubernetes_version=checked.kubernetes_version,
        network_plugin=checked.network_plugin,
        container_runtime=checked.runtime,
        artifact_name=checked.bundle_name,
        request=request,
        created_by=owner.username,
        owner_id=owner.user_id,
        current_step=INITIAL_STEP,
        status=PENDING,
        progress=0,
    )
    session.add(task)
    await session.flush()
    for position, view in enumerate(checked.views):
        session.add(
            CreateTaskMachine(
                task_id=task.id,
                machine_id=view.id,
                position=position,
                role=view.role,
                node_name=checked.node_names[view.id],
                address=view.address,
            )
        )
    await _hold_machines(session, [v.id for v in checked.views], f"building cluster {cluster.name}")
    await _enqueue(ctx, session, task)
    await cluster_events.record(
        session,
        cluster.id,
        reason="Creating",
        severity="info",
        message=f"Cluster {cluster.name} is being created from {len(checked.views)} machines",
    )
    audit.note(
        resource="create_task",
        resource_id=task.id,
        cluster_id=cluster.id,
        new_value={"cluster_name": cluster.name, **request},
    )
    return task


async def _enqueue(ctx: AppContext, session: AsyncSession, task: CreateTask) -> None:
    job = await jobs.enqueue(
        session,
        CREATE_KIND,
        {"task_id": task.id},
        max_attempts=ctx.settings.provision.job_attempts,
    )
    task.job_id = job.id


def _may_see(principal: Principal, task: CreateTask) -> bool:
    return principal.is_admin or task.owner_id == principal.user_id


async def get_task(
    session: AsyncSession, principal: Principal, task_id: str, *, for_update: bool = False
) -> CreateTask:
    query = select(CreateTask).where(CreateTask.id == task_id[:64])
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    task = await session.scalar(query)
    if task is None or not _may_see(principal, task):
        raise NotFound(f"create task {task_id[:64]} not found")
    return task


async def list_tasks(
    session: AsyncSession, principal: Principal, *, offset: int, limit: int
) -> tuple[list[CreateTask], int]:
    query = select(CreateTask)
    if not principal.is_admin:
        query = query.where(CreateTask.owner_id == principal.user_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    ordered = query.order_by(CreateTask.created_at.desc(), CreateTask.id)
    rows = await session.scalars(ordered.offset(offset).limit(limit))
    return list(rows), int(total or 0)


async def task_machines(session: AsyncSession, task_id: str) -> list[CreateTaskMachine]:
    rows = await session.scalars(
        select(CreateTaskMachine)
        .where(CreateTaskMachine.task_id == task_id)
        .order_by(CreateTaskMachine.position)
    )
    return list(rows)


async def task_steps(session: AsyncSession, task_id: str) -> list[CreateTaskStep]:
    rows = await session.scalars(
        select(CreateTaskStep)
        .where(CreateTaskStep.task_id == task_id)
        .order_by(CreateTaskStep.started_at, CreateTaskStep.step, CreateTaskStep.machine_id)
    )
    return list(rows)


async def log_tail(session: AsyncSession, task_id: str, lines: int) -> str:
    rows = list(
        await session.scalars(
            select(CreateTaskLog)
            .where(CreateTaskLog.task_id == task_id)
            .order_by(CreateTaskLog.seq.desc())
            .limit(lines)
        )
    )
    return "\n".join(f"{rfc3339(r.at)} [{r.host}] {r.step}: {r.line}" for r in reversed(rows))


async def retry_task(
    ctx: AppContext, session: AsyncSession, principal: Principal, task_id: str
) -> CreateTask:
    """Run a failed or cancelled task again: its finished steps are skipped."""
    task = await get_task(session, principal, task_id, for_update=True)
    if task.status == COMPLETED:
        raise Conflict(f"create task {task.id} already completed: there is nothing to retry")
    if task.is_active:
        raise Conflict(f"create task {task.id} is {task.status}: wait for it to end or cancel it")
    cluster = await session.get(Cluster, task.cluster_id) if task.cluster_id else None
    if cluster is None:
        raise Conflict(
            f"the cluster {task.cluster_name} of create task {task.id} was deleted: create it anew"
        )
    ids = [tm.machine_id for tm in await task_machines(session, task.id)]
    await _hold_machines(session, ids, f"building cluster {cluster.name} (retry)")
    task.status, task.error_message, task.completed_at = PENDING, "", None
    task.current_step, task.cancel_requested = INITIAL_STEP, False
    task.attempt += 1
    old = cluster.status
    cluster.status, cluster.last_probe_error = "pending", None
    await session.flush()
    if old != "pending":
        await cluster_events.record_transition(
            session, cluster.id, cluster.name, old, "pending", "create task retried"
        )
    await _enqueue(ctx, session, task)
    audit.note(resource="create_task", resource_id=task.id, cluster_id=cluster.id)
    return task


async def cancel_task(session: AsyncSession, principal: Principal, task_id: str) -> CreateTask:
    """A running task stops at its next step boundary; a queued one ends at once."""
    from taichu.provision.jobs import release

    task = await get_task(session, principal, task_id, for_update=True)
    if not task.is_active:
        raise Conflict(f"create task {task.id} is {task.status}: it cannot be cancelled")
    task.cancel_requested = True
    if task.status == PENDING and task.job_id:
        job = await jobs.request_cancel(session, task.job_id)
        if job.status == "cancelled" and task.end(CANCELLED):
            await release(session, task, CANCELLED)
    await session.flush()
    audit.note(resource="create_task", resource_id=task.id, cluster_id=task.cluster_id)
    return task
