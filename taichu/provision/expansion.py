"""Expansions of created clusters: check a request (nothing is stored unless every rule
passes), store the expansion with its machines `deploying` (members of the cluster's
create task from now on) and its job; history, detail and cancel. The work is
`taichu.provision.expansion_jobs`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.clusters import events as cluster_events
from taichu.clusters.models import SOURCE_CREATED, Cluster
from taichu.clusters.probe import PROBE_MAX_NODES, PROBE_MAX_PAGES, summarize_nodes
from taichu.clusters.service import access_for, managed_cluster
from taichu.context import AppContext
from taichu.db.base import CANCELLED, COMPLETED, PENDING, RUN_ACTIVE
from taichu.errors import Conflict, Invalid, NotFound
from taichu.jobs import service as jobs
from taichu.machines import service as machines
from taichu.machines.models import Machine
from taichu.machines.preflight_service import run_preflight
from taichu.provision import bundles, join, validation
from taichu.provision.expansion_models import ClusterExpansion, NodeRemoval
from taichu.provision.models import (
    CreateTask,
    CreateTaskLog,
    CreateTaskMachine,
    CreateTaskStep,
)
from taichu.provision.schemas import MAX_MACHINES
from taichu.provision.service import CREATE_PREFLIGHT, _hold_machines, _view
from taichu.provision.validation import WORKER
from taichu.timeutil import rfc3339

EXPAND_KIND = "provision.expand"
INITIAL_STEP = "Queued"
HISTORY_LIMIT = 100


def step_prefix(run_id: str) -> str:
    """How an expansion's (or removal's) rows are told apart in the task's journal."""
    return f"{run_id}/"


# --- what may be expanded ------------------------------------------------------------------


async def created_cluster(
    session: AsyncSession, principal: Principal, cluster_id: str, what: str, *, lock: bool = False
) -> tuple[Cluster, CreateTask]:
    """The cluster and the create task that built it; 422 for a cluster the platform did
    not create, 409 while it is busy (being created, expanded, a node being removed)."""
    cluster = await managed_cluster(session, principal, cluster_id)
    if lock:  # one expansion or removal at a time: requests for the cluster queue here
        await session.execute(select(Cluster.id).where(Cluster.id == cluster.id).with_for_update())
    if cluster.source != SOURCE_CREATED:
        raise Invalid(
            f"{what}: cluster {cluster.name} was not created by the platform (it was added "
            f"by {cluster.source}): the platform has no machines of it to reach"
        )
    tasks = list(
        await session.scalars(
            select(CreateTask)
            .where(CreateTask.cluster_id == cluster.id)
            .order_by(CreateTask.created_at.desc())
        )
    )
    task = next((t for t in tasks if t.status == COMPLETED), None)
    if task is None or any(t.is_active for t in tasks):
        raise Conflict(
            f"{what}: cluster {cluster.name} is not created yet (its create task ended"
            " otherwise or still runs)"
        )
    if cluster.status in ("pending", "maintenance"):
        raise Conflict(f"{what}: cluster {cluster.name} is {cluster.status}")
    for model, label in ((ClusterExpansion, "an expansion"), (NodeRemoval, "a node removal")):
        busy = await session.scalar(
            select(model.id)
            .where(model.cluster_id == cluster.id, model.status.in_(RUN_ACTIVE))
            .limit(1)
        )
        if busy is not None:
            raise Conflict(
                f"{what}: cluster {cluster.name} has {label} running ({busy}): wait for "
                "it to end or cancel it"
            )
    return cluster, task


@dataclass(frozen=True)
class LiveState:
    version: str
    totals: join.Totals
    node_names: frozenset[str]


async def live_state(ctx: AppContext, cluster: Cluster) -> LiveState:
    """The cluster as its API server answers now (call with no transaction open)."""
    access = access_for(cluster, ctx)
    async with ctx.kube.client(cluster.id, access) as kube:
        version = await kube.git_version()
        nodes, _ = await kube.list_all(
            "/api/v1/nodes", max_items=PROBE_MAX_NODES, max_pages=PROBE_MAX_PAGES
        )
    summary = summarize_nodes(nodes)
    names = frozenset(str((n.get("metadata") or {}).get("name", "")) for n in nodes)
    return LiveState(version, join.live_totals(summary), names)


@dataclass(frozen=True)
class Checked:
    cluster: Cluster
    task: CreateTask
    old: join.Totals
    chosen: list[join.Candidate]
    node_names: dict[str, str]
    picked: bool


def _candidate(m: Machine) -> join.Candidate | None:
    return join.Candidate.of(_view(m), m.facts)


async def _given(session: AsyncSession, ctx: AppContext, ids: list[str]) -> list[join.Candidate]:
    pairs = await machines.machine_targets(session, ids, ctx.box)
    chosen = []
    for m, _ in pairs:
        view = _view(m)
        if m.status != "available":
            raise Invalid(f"machine_ids: machine {view.label} is {m.status}, not available")
        if m.role != WORKER:
            raise Invalid(
                f"machine_ids: machine {view.label} has role {m.role}: an expansion joins "
                "worker machines"
            )
        candidate = _candidate(m)
        if candidate is None:
            raise Invalid(
                f"machine_ids: machine {view.label} has no facts yet (no check reached it): "
                "check it first (POST /machines/{id}/check)"
            )
        chosen.append(candidate)
    return chosen


async def _available_workers(session: AsyncSession) -> list[join.Candidate]:
    rows = await session.scalars(
        select(Machine)
        .where(Machine.status == "available", Machine.role == WORKER)
        .order_by(Machine.name)
        .limit(MAX_MACHINES * 10)
    )
    return [c for c in (_candidate(m) for m in rows) if c is not None]


async def check_request(
    ctx: AppContext, principal: Principal, cluster_id: str, body: Any
) -> Checked:
    """Every rule, cheapest first, in sessions of its own; the cluster and the machines
    are asked with no transaction open."""
    async with ctx.read_sessions() as session:
        cluster, task = await created_cluster(session, principal, cluster_id, "expansion")
        members = {
            m.node_name
            for m in await session.scalars(
                select(CreateTaskMachine).where(CreateTaskMachine.task_id == task.id)
            )
        }
        given = await _given(session, ctx, body.machine_ids) if body.machine_ids else None
        pool = await _available_workers(session) if given is None else []
    live = await live_state(ctx, cluster)
    old = live.totals
    asked = join.Totals(
        body.new_node_count, body.new_cpu_cores, body.new_memory_gb, body.new_storage_gb
    )
    if asked.nodes <= old.nodes:
        raise Invalid(
            f"new_node_count: the cluster has {old.nodes} nodes; an expansion asks for more "
            "(a node is removed with DELETE /clusters/{id}/nodes/{nodeName})"
        )
    if given is not None:
        if old.nodes + len(given) != asked.nodes:
            raise Invalid(
                f"new_node_count: the cluster has {old.nodes} nodes and {len(given)} machines "
                f"are given: it would have {old.nodes + len(given)}, not {asked.nodes}"
            )
        join.check_totals(old, given, asked, "the given machines")
        chosen = given
    else:
        chosen = join.pick(pool, old, asked)
    names: dict[str, str] = {}
    for c in chosen:
        name = validation.node_name(c.view.name)
        if name in live.node_names or name in members or name in names.values():
            raise Invalid(
                f"machine_ids: machine {c.view.label} would be node {name}, which the cluster "
                "already has: rename the machine"
            )
        names[c.view.id] = name
    network = (task.request or {}).get("network", {})
    join.check_join_networks(
        network["pods_cidr"], network["service_cidr"], [c.view for c in chosen], asked.nodes
    )
    bundle = await bundles.open_named(ctx.settings, task.artifact_name)
    carried = bundle.manifest.kubernetes_version
    if carried.lstrip("v") != task.kubernetes_version.lstrip("v"):
        raise Invalid(
            f"artifact: the bundle {task.artifact_name} the cluster was created with now "
            f"carries Kubernetes {carried}, not {task.kubernetes_version}: new nodes must get "
            "what the others have"
        )
    join.check_version_skew(live.version, task.kubernetes_version)
    report = await run_preflight(ctx, [c.view.id for c in chosen], policy=CREATE_PREFLIGHT)
    if not report.passed:
        failed = "; ".join(f"{c.name}: {c.message}" for c in report.failures()[:20])
        raise Invalid(f"machine_ids: preflight failed: {failed}")
    return Checked(cluster, task, old, chosen, names, given is None)


# --- request, history, cancel --------------------------------------------------------------


async def request_expansion(
    ctx: AppContext, session: AsyncSession, principal: Principal, cluster_id: str, body: Any
) -> ClusterExpansion:
    checked = await check_request(ctx, principal, cluster_id, body)  # nothing held before
    cluster, task = checked.cluster, checked.task
    # Again in the writing transaction: another request may have started meanwhile.
    await created_cluster(session, principal, cluster.id, "expansion", lock=True)
    joining = [
        {
            "machine_id": c.view.id,
            "node_name": checked.node_names[c.view.id],
            "address": c.view.address,
        }
        for c in checked.chosen
    ]
    record = ClusterExpansion(
        cluster_id=cluster.id,
        task_id=task.id,
        old_node_count=checked.old.nodes,
        new_node_count=body.new_node_count,
        old_cpu_cores=checked.old.cpu,
        new_cpu_cores=body.new_cpu_cores,
        old_memory_gb=checked.old.memory_gb,
        new_memory_gb=body.new_memory_gb,
        old_storage_gb=checked.old.storage_gb,
        new_storage_gb=body.new_storage_gb,
        reason=body.reason,
        machines=joining,
        picked=checked.picked,
        requested_by=principal.username,
        requested_by_id=principal.user_id,
        status=PENDING,
        progress=0,
        current_step=INITIAL_STEP,
    )
    session.add(record)
    await session.flush()
    position = await session.scalar(
        select(func.max(CreateTaskMachine.position)).where(CreateTaskMachine.task_id == task.id)
    )
    for offset, item in enumerate(joining, start=1):
        session.add(
            CreateTaskMachine(
                task_id=task.id,
                machine_id=item["machine_id"],
                position=int(position or 0) + offset,
                role=WORKER,
                node_name=item["node_name"],
                address=item["address"],
            )
        )
    await _hold_machines(
        session, [i["machine_id"] for i in joining], f"joining cluster {cluster.name}"
    )
    job = await jobs.enqueue(
        session,
        EXPAND_KIND,
        {"expansion_id": record.id},
        max_attempts=ctx.settings.provision.job_attempts,
    )
    record.job_id = job.id
    await cluster_events.record(
        session,
        cluster.id,
        reason="Expanding",
        severity="info",
        message=f"Cluster {cluster.name} is joining {len(joining)} machines: "
        + ", ".join(i["node_name"] for i in joining),
    )
    audit.note(
        resource="expansion",
        resource_id=record.id,
        cluster_id=cluster.id,
        new_value={**body.model_dump(mode="json"), "machines": joining},
    )
    return record


async def history(
    session: AsyncSession, cluster_id: str, limit: int = HISTORY_LIMIT
) -> list[ClusterExpansion]:
    rows = await session.scalars(
        select(ClusterExpansion)
        .where(ClusterExpansion.cluster_id == cluster_id)
        .order_by(ClusterExpansion.created_at.desc(), ClusterExpansion.id)
        .limit(limit)
    )
    return list(rows)


async def get_expansion(
    session: AsyncSession, cluster_id: str, expansion_id: str, *, for_update: bool = False
) -> ClusterExpansion:
    query = select(ClusterExpansion).where(
        ClusterExpansion.id == expansion_id[:64], ClusterExpansion.cluster_id == cluster_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    record = await session.scalar(query)
    if record is None:
        raise NotFound(f"expansion {expansion_id[:64]} of cluster {cluster_id[:64]} not found")
    return record


async def cancel_expansion(
    session: AsyncSession, principal: Principal, cluster_id: str, expansion_id: str
) -> ClusterExpansion:
    """A queued expansion ends at once; a running one stops at its next step boundary
    (and its job puts the cluster and the machines back as they were)."""
    from taichu.provision.expansion_jobs import release

    await managed_cluster(session, principal, cluster_id)
    record = await get_expansion(session, cluster_id, expansion_id, for_update=True)
    if not record.is_active:
        raise Conflict(f"expansion {record.id} is {record.status}: it cannot be cancelled")
    record.cancel_requested = True
    if record.status == PENDING and record.job_id:
        job = await jobs.request_cancel(session, record.job_id)
        if job.status == "cancelled" and record.end(CANCELLED):
            await release(session, record, CANCELLED)
    await session.flush()
    audit.note(resource="expansion", resource_id=record.id, cluster_id=cluster_id)
    return record


# --- the journal of a run (expansion or removal) -------------------------------------------


async def run_steps(session: AsyncSession, task_id: str, run_id: str) -> list[dict[str, Any]]:
    prefix = step_prefix(run_id)
    rows = await session.scalars(
        select(CreateTaskStep)
        .where(CreateTaskStep.task_id == task_id, CreateTaskStep.step.startswith(prefix))
        .order_by(CreateTaskStep.started_at, CreateTaskStep.step, CreateTaskStep.machine_id)
    )
    return [
        {
            "step": r.step.removeprefix(prefix),
            "machine_id": r.machine_id,
            "status": r.status,
            "attempt": r.attempt,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
        }
        for r in rows
    ]


async def run_log(session: AsyncSession, task_id: str, run_id: str, lines: int) -> str:
    prefix = step_prefix(run_id)
    rows = list(
        await session.scalars(
            select(CreateTaskLog)
            .where(CreateTaskLog.task_id == task_id, CreateTaskLog.step.startswith(prefix))
            .order_by(CreateTaskLog.seq.desc())
            .limit(lines)
        )
    )
    return "\n".join(
        f"{rfc3339(r.at)} [{r.host}] {r.step.removeprefix(prefix)}: {r.line}"
        for r in reversed(rows)
    )
