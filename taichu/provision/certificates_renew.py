"""`POST /api/v1/clusters/{id}/certificates/renew`: every component certificate of a
created cluster re-issued (the CAs and the service-account key stay), written to the
machines (each file atomically: a temporary file, then a rename), and taken up one
machine at a time — each member, master and node done before the next is touched.

etcd and the API servers re-read their renewed files themselves (certificates_reload says
which and where in their source): the job waits until each serves its new certificate to a
new connection, and restarts one only when it does not. The components that read their
credentials once (controller manager, scheduler, kubelet, kube-proxy, flanneld; none of
them answers the API) are restarted. The result lists, per machine and component, whether
it was reloaded or restarted and how long that took.

The job measures what a client of the cluster sees meanwhile: the API server is asked for
/version every POLL_INTERVAL through the platform's own connection, and the result records
the longest stretch without an answer (and every stretch over a second)."""

from __future__ import annotations

import asyncio
import hashlib
import shlex
import time
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters import events as cluster_events
from taichu.clusters.models import Cluster
from taichu.clusters.service import access_for
from taichu.db.session import transaction
from taichu.errors import Conflict, TaichuError
from taichu.jobs import service as jobs
from taichu.jobs.errors import PermanentJobError
from taichu.jobs.models import Job
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.kube import KubeClient, render_kubeconfig
from taichu.provision import certificates, members
from taichu.provision import certificates_reload as reload
from taichu.provision.install.remote import Machine, kube_nodes
from taichu.provision.install.steps_nodes import node_files
from taichu.provision.models import CreateTask
from taichu.provision.pki import ADMIN, ClusterPki
from taichu.provision.plan import NodePlan, StepFailed
from taichu.provision.runtime import EngineContext, Run
from taichu.timeutil import utcnow

RENEW_KIND = "provision.certificates-renew"
POLL_INTERVAL = 0.25


def renew_key(cluster_id: str) -> str:
    return f"certificates:{cluster_id}"


async def request_renewal(session: AsyncSession, cluster: Cluster) -> Job:
    """Enqueue the renewal (the caller commits); 422 for a cluster without machines, 409
    while one runs or the cluster is parked (a teardown, a restore)."""
    await members.require_created(session, cluster, "certificates")
    if cluster.status == "maintenance":
        raise Conflict(f"cluster {cluster.name} is in maintenance (a teardown or a restore)")
    active = await last_renewal(session, cluster.id)
    if active is not None and active.status in ("queued", "running"):
        raise Conflict(
            f"a renewal of the certificates of {cluster.name} is {active.status}: {active.id}"
        )
    # The de-duplication key still guards a race between two requests (one job at most).
    return await jobs.enqueue(
        session, RENEW_KIND, {"cluster_id": cluster.id}, dedup_key=renew_key(cluster.id)
    )


async def last_renewal(session: AsyncSession, cluster_id: str) -> Job | None:
    return await session.scalar(
        select(Job)
        .where(Job.kind == RENEW_KIND, Job.dedup_key == renew_key(cluster_id))
        .order_by(Job.created_at.desc(), Job.id)
        .limit(1)
    )


# --- measuring the API -----------------------------------------------------------------------


@dataclass
class Availability:
    """Stretches without an answer from the API server, while the renewal runs."""

    samples: int = 0
    failures: int = 0
    longest_gap: float = 0.0
    gaps: list[dict[str, float]] = field(default_factory=list)
    _last_ok: float | None = None
    _start: float = field(default_factory=time.monotonic)

    def answered(self, at: float) -> None:
        self.samples += 1
        if self._last_ok is not None:
            gap = at - self._last_ok
            if gap > 1.0 and len(self.gaps) < 50:
                self.gaps.append(
                    {"at_seconds": round(self._last_ok - self._start, 2), "seconds": round(gap, 2)}
                )
            self.longest_gap = max(self.longest_gap, gap)
        self._last_ok = at

    def failed(self) -> None:
        self.samples += 1
        self.failures += 1

    def out(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "failures": self.failures,
            "longest_gap_seconds": round(self.longest_gap, 2),
            "gaps": self.gaps,
            "poll_interval_seconds": POLL_INTERVAL,
        }


async def poll_api(client: KubeClient, seen: Availability) -> None:
    while True:
        started = time.monotonic()
        try:
            await client.version()
            seen.answered(time.monotonic())
        except TaichuError:
            seen.failed()
        await asyncio.sleep(max(0.0, POLL_INTERVAL - (time.monotonic() - started)))


# --- the job ---------------------------------------------------------------------------------


def _digest(data: Any) -> str:
    payload = data.encode() if isinstance(data, str) else bytes(data)
    return hashlib.sha256(payload).hexdigest()


async def _write(ctx: EngineContext, node: NodePlan) -> None:
    """The node's new files, then a re-read of every one of them on the machine."""
    m = Machine(ctx, node)
    files = node_files(ctx, node)
    changed = sum([await m.put(data, path, mode) for data, path, mode in files])
    await m.log(f"{changed} of {len(files)} certificate, key and kubeconfig files renewed")
    paths = " ".join(shlex.quote(path) for _, path, _ in files)
    found = await m.sh(f"sha256sum -- {paths}", timeout=60)
    on_machine = {}
    for line in found.stdout.splitlines():
        digest, _, path = line.partition("  ")
        on_machine[path.strip()] = digest
    for data, path, _ in files:
        if on_machine.get(path) != _digest(data):
            raise m.fail(f"{path} on the machine is not the renewed file")


async def _renew(job: JobContext, run: Run, client: KubeClient) -> reload.Done:
    plan = run.plan
    ctx = members.context(run, f"certificates-{job.job_id[:8]}", "Renewing certificates")
    await job.progress(5, "Issuing new certificates")
    run.pki = await asyncio.to_thread(certificates.renew_components, run.pki)
    pki = run.pki
    await job.progress(10, "Copying the certificates to the machines")
    for node in plan.nodes:
        await _write(ctx, node)
    await _store(job, run)
    order: list[tuple[str, NodePlan]] = [("etcd", n) for n in plan.etcd_members()]
    order += [("master", n) for n in plan.masters()]
    order += [("node", n) for n in kube_nodes(plan)]
    done: reload.Done = []
    for index, (what, node) in enumerate(order):
        percent = 20 + 75 * index / max(len(order), 1)
        titles = {"etcd": "etcd", "master": "the control plane", "node": "the node components"}
        await job.progress(percent, f"Renewing {titles[what]} on {node.name}")
        if what == "etcd":
            await reload.etcd_member(ctx, node, pki, done)
        elif what == "master":
            await reload.control_plane(ctx, node, pki, done)
        else:
            await reload.node_components(ctx, node, client, done)
    return done


async def _store(job: JobContext, run: Run) -> None:
    """The renewed PKI on the create task and the platform's own admin credential in the
    cluster's kubeconfig, once every machine holds its new files."""
    app = job.app
    blob = app.box.encrypt(await asyncio.to_thread(run.pki.to_json))
    admin = run.pki.cert(ADMIN)
    async with transaction(app.sessions) as session:
        task = await session.get(CreateTask, run.plan.task_id)
        cluster = await session.get(Cluster, run.plan.cluster_id)
        if task is None or cluster is None:
            raise PermanentJobError("the cluster was deleted during the renewal")
        task.pki_encrypted = blob
        access = replace(
            access_for(cluster, app),
            client_cert_data=admin.cert_pem,
            client_key_data=admin.key_pem,
        )
        cluster.kubeconfig_encrypted = app.box.encrypt(
            render_kubeconfig(replace(access, fallback_servers=()), cluster.name)
        )
    await app.kube.invalidate(run.plan.cluster_id)


async def run_renewal(job: JobContext) -> dict[str, Any]:
    cluster_id = job.payload["cluster_id"]
    async with job.app.read_sessions() as session:
        cluster = await session.get(Cluster, cluster_id)
        if cluster is None:
            raise PermanentJobError(f"cluster {cluster_id} no longer exists")
        access = access_for(cluster, job.app)
        name = cluster.name
    run = await members.open_run(job, cluster_id)
    if not isinstance(run.pki, ClusterPki):
        await members.flush_and_close(run)
        raise PermanentJobError("the cluster was not made by the installer: no certificates")
    seen = Availability()
    client = KubeClient(access, connect_timeout=2.0, request_timeout=2.0)
    poller = asyncio.create_task(poll_api(client, seen))
    try:
        done = await _renew(job, run, client)
        await job.progress(97, "Verifying the cluster")
        await asyncio.sleep(1.0)
    except StepFailed as e:
        where = f"{e.node.label}: " if e.node is not None else ""
        raise PermanentJobError(f"{where}{e.step}: {e.message}\n{e.output}".strip()) from e
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        await client.close()
        await members.flush_and_close(run)
    _, components = certificates.expiries(run.pki)
    first = certificates.first_expiry(components)
    availability = seen.out()
    restarted = sorted(
        {d["component"] for d in done if d["action"] == "restarted"} & reload.SERVING_API
    )
    how = f"restarted: {', '.join(restarted)}" if restarted else "etcd and kube-apiserver reloaded"
    async with transaction(job.sessions) as session:
        if await session.get(Cluster, cluster_id) is not None:
            await cluster_events.record(
                session,
                cluster_id,
                reason="CertificatesRenewed",
                severity="info",
                message=f"{len(components)} component certificates of cluster {name} renewed; "
                f"{how}; the API server's longest silence was "
                f"{availability['longest_gap_seconds']}s",
            )
    return {
        "cluster_id": cluster_id,
        "renewed": len(components),
        "first_expiry": first.out(utcnow())["not_after"] if first else None,
        "api_availability": availability,
        "components": done,
    }


def register(registry: JobRegistry) -> None:
    registry.handler(RENEW_KIND, max_attempts=1)(run_renewal)
