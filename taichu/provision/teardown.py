"""`DELETE /api/v1/clusters/{id}?teardown=true`: a cluster the platform created has what
the installer put on its machines removed, the machines released, then it is deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.clusters import events as cluster_events
from taichu.clusters.models import SOURCE_CREATED, Cluster
from taichu.clusters.service import managed_cluster
from taichu.context import AppContext
from taichu.db.base import RUN_ACTIVE
from taichu.errors import Conflict, Invalid
from taichu.jobs import service as jobs
from taichu.machines import service as machines
from taichu.provision.jobs import TEARDOWN_KIND, owned_machines, teardown_dedup_key
from taichu.provision.models import ClusterExpansion, CreateTask, NodeRemoval
from taichu.provision.service import set_machine_status


async def request_teardown(
    ctx: AppContext, session: AsyncSession, principal: Principal, cluster_id: str
) -> None:
    cluster = await managed_cluster(session, principal, cluster_id)
    if cluster.source != SOURCE_CREATED:
        raise Invalid(
            f"teardown: cluster {cluster.name} was not created by the platform "
            f"(it was added by {cluster.source}): there is nothing of the platform's on its "
            "machines; delete it without teardown"
        )
    tasks = list(
        await session.scalars(
            select(CreateTask)
            .where(CreateTask.cluster_id == cluster.id)
            .order_by(CreateTask.created_at.desc())
        )
    )
    if any(t.is_active for t in tasks):
        raise Conflict(
            f"teardown: cluster {cluster.name} is being created: cancel its create task first"
        )
    if not tasks:
        raise Invalid(f"teardown: cluster {cluster.name} has no create task")
    for model in (ClusterExpansion, NodeRemoval):  # their machines are mid-way
        running = await session.scalar(
            select(model.id).where(model.cluster_id == cluster.id, model.status.in_(RUN_ACTIVE))
        )
        if running is not None:
            raise Conflict(
                f"teardown: cluster {cluster.name} has {model.run_label} {running} running: "
                "wait for it to end or cancel it"
            )
    owned = await owned_machines(session, cluster.id)
    before: dict[str, str] = {}
    for member in owned:
        machine = await machines.get_machine(session, member.machine_id, for_update=True)
        if machine.status not in ("in_use", "available", "deploying"):
            raise Conflict(
                f"teardown: machine {machine.name} ({machine.ip_address}) is {machine.status}: "
                "set it available first"
            )
        before[machine.id] = machine.status
        await set_machine_status(session, machine, "deploying", f"tearing down {cluster.name}")
    old = cluster.status
    cluster.status = "maintenance"
    await session.flush()
    if old != "maintenance":
        await cluster_events.record_transition(
            session, cluster.id, cluster.name, old, "maintenance", "teardown requested"
        )
    await jobs.enqueue(
        session,
        TEARDOWN_KIND,
        # What the machines were, for a failed teardown to put back.
        {"cluster_id": cluster.id, "task_id": tasks[0].id, "machines": before, "status": old},
        dedup_key=teardown_dedup_key(cluster.id),
        max_attempts=ctx.settings.provision.job_attempts,
    )
    audit.note(
        resource="cluster",
        resource_id=cluster.id,
        cluster_id=cluster.id,
        old_value={"name": cluster.name, "api_server_url": cluster.api_server_url},
        details={"teardown": True, "machines": [m.machine_id for m in owned]},
    )


async def release_without_teardown(session: AsyncSession, cluster_id: str) -> None:
    """A created cluster deleted without teardown: its machines still carry what the
    installer put there, so they are not `available`; `error` (an operator's to clear,
    PUT .../status available) says so instead of leaving them `in_use` by nothing."""
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None or cluster.source != SOURCE_CREATED:
        return
    for member in await owned_machines(session, cluster_id):
        machine = await machines.get_machine(session, member.machine_id, for_update=True)
        if machine.status == "in_use":
            await set_machine_status(
                session,
                machine,
                "error",
                f"cluster {cluster.name} was deleted without teardown: its Kubernetes files "
                "and services are still here; clean up, then set the machine available",
            )
