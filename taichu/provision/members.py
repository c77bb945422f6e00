"""Work on the machines of a cluster the platform created, after its creation: the plan,
PKI and log of its latest create task (`open_run`), a step context to run commands in
(`context`), and the etcd commands the snapshot, restore and certificate jobs share.

What such a job does on the machines is logged in the create task's log, under each
machine, like the creation itself (`GET /api/v1/create-tasks/{id}`)."""

from __future__ import annotations

import asyncio
import shlex
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters.models import SOURCE_CREATED, Cluster
from taichu.db.base import COMPLETED
from taichu.errors import Invalid
from taichu.jobs.errors import PermanentJobError
from taichu.provision.install import configs as C
from taichu.provision.install import layout as L
from taichu.provision.models import CreateTask
from taichu.provision.plan import NodePlan, Step, StepContext
from taichu.provision.runtime import EngineContext, Run

if TYPE_CHECKING:
    from taichu.jobs.jobcontext import JobContext

ETCDUTL = f"{L.BIN}/etcdutl"
ETCDCTL = f"{L.BIN}/etcdctl"
LOCAL_ETCD = "https://127.0.0.1:2379"


def is_created(cluster: Cluster) -> bool:
    return cluster.source == SOURCE_CREATED


async def latest_task_id(session: AsyncSession, cluster_id: str) -> str | None:
    """The completed create task that built the cluster (its plan and PKI are the
    cluster's)."""
    return await session.scalar(
        select(CreateTask.id)
        .where(CreateTask.cluster_id == cluster_id, CreateTask.status == COMPLETED)
        .order_by(CreateTask.created_at.desc())
        .limit(1)
    )


async def require_created(session: AsyncSession, cluster: Cluster, what: str) -> str:
    """The cluster's create task id, or 422 naming `what` needs machines."""
    task_id = await latest_task_id(session, cluster.id) if is_created(cluster) else None
    if task_id is None:
        raise Invalid(
            f"{what}: cluster {cluster.name} has no machines the platform reaches (it was "
            f"{'added by ' + cluster.source if not is_created(cluster) else 'never completed'}"
            "): only clusters created from machines have them"
        )
    return task_id


async def open_run(job: JobContext, cluster_id: str) -> Run:
    """The plan (credentials decrypted), PKI and log of the cluster's create task."""
    from taichu.provision.jobs import load_run  # the job module imports the engine

    async with job.app.read_sessions() as session:
        task_id = await latest_task_id(session, cluster_id)
    if task_id is None:
        raise PermanentJobError(f"cluster {cluster_id} has no completed create task")
    run = await load_run(job, task_id, with_bundle=False)
    assert run is not None  # with_bundle=False always loads
    return run


async def _noop(_: StepContext, __: NodePlan | None) -> None:
    return None


def context(run: Run, name: str, title: str) -> EngineContext:
    """A step context whose commands are logged under `name` and fail naming `title`."""
    return EngineContext(run, Step(name, title, 1, None, _noop))


def etcd_tls(endpoints: str = LOCAL_ETCD) -> str:
    """etcdctl's flags with the member's own etcd-CA client certificate."""
    return (
        f"--endpoints={endpoints} --cacert={C.ETCD_CA} "
        f"--cert={C.etcd_file('healthcheck-client')} "
        f"--key={C.etcd_file('healthcheck-client', 'key')}"
    )


def etcdutl_restore(
    *,
    snapshot: str,
    name: str,
    address: str,
    members: list[tuple[str, str]],
    token: str,
    data_dir: str,
) -> str:
    """`etcdutl snapshot restore` into `data_dir` (which must not exist yet).
    `--bump-revision` and `--mark-compacted`: revisions go forward, so the watches of the
    API servers' clients (controllers, kubelets) see the restore as new history instead of
    serving cached objects newer than the snapshot."""
    peers = ",".join(f"{n}={C.api_url(a, C.ETCD_PEER_PORT)}" for n, a in members)
    return shlex.join(
        [
            ETCDUTL,
            "snapshot",
            "restore",
            snapshot,
            f"--name={name}",
            f"--data-dir={data_dir}",
            f"--initial-cluster={peers}",
            f"--initial-cluster-token={token}",
            f"--initial-advertise-peer-urls={C.api_url(address, C.ETCD_PEER_PORT)}",
            "--bump-revision=1000000000",
            "--mark-compacted",
        ]
    )


async def flush_and_close(run: Run) -> None:
    await asyncio.shield(run.log.flush())
    await run.close()
