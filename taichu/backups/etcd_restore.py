"""The job body of restoring an etcd snapshot into the cluster it was taken of.

Order matters, and nothing is touched until the snapshot is known good:
1. Verifying the archive: the whole archive (HMAC, every chunk, the part's hash and
   count), then the snapshot's own sha256 and size against the manifest. A tampered or
   truncated archive fails here; the cluster is not touched.
2. Checking the members: every etcd member answers over SSH and has etcdutl; the
   snapshot is copied to each (checksum verified) and `etcdutl snapshot status` reads it
   there. Still nothing of the cluster is touched.
3. Stopping the API servers (and the controller managers and schedulers, which would act
   on what they cached), then every etcd member.
4. Restoring etcd: each member's data (`member`) is moved aside and rebuilt from the
   snapshot with its own name, peer URL and the cluster's initial cluster and token.
5. Starting etcd (all members at once: a member alone waits for its quorum), then the API
   servers, then the controller managers and schedulers.
6. Verifying the cluster through the platform's own connection to it.

A failure after step 3 puts back what was moved aside (when the new directory is not
complete) and starts every component again, then fails the restore saying so."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from taichu.backups import etcd_snapshot as snap
from taichu.backups.archive import ArchiveError
from taichu.backups.models import ACTIVE, COMPLETED, Backup, Restore
from taichu.clusters import events as cluster_events
from taichu.clusters.models import Cluster
from taichu.clusters.service import access_for
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.jobs import tracked
from taichu.jobs.registry import JobContext, PermanentJobError
from taichu.provision import members
from taichu.provision.install import layout as L
from taichu.provision.install import steps_control
from taichu.provision.install.remote import Machine
from taichu.provision.plan import NodePlan, StepFailed
from taichu.provision.runtime import EngineContext, Run

REMOTE_DIR = f"{L.ETCD_DATA}.taichu-snapshot"  # root's, beside the data directory
# Inside the data directory (it may be a mount point, which cannot be moved): its `member`
# directory is what etcd keeps; the old one is moved aside, the new one made beside it
# (the same filesystem: moves, not copies).
DATA = L.ETCD_DATA
BEFORE = f"{DATA}/.taichu-before"
NEW = f"{DATA}/.taichu-new"
RESTORED = f"{DATA}/.taichu-restored"  # this member's new `member` is complete
CONTROL = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
STEPS = {
    "verify": (2.0, "Verifying the archive"),
    "members": (12.0, "Checking the etcd members"),
    "stop": (30.0, "Stopping the API servers"),
    "restore": (45.0, "Restoring etcd"),
    "etcd": (60.0, "Starting etcd"),
    "api": (75.0, "Starting the API servers"),
    "check": (90.0, "Verifying the cluster"),
}


class EtcdRestore:
    def __init__(self, job: JobContext, restore_id: str) -> None:
        self.job, self.restore_id = job, restore_id
        self.touched = False  # the cluster's components were stopped

    async def step(self, name: str) -> None:
        percent, title = STEPS[name]
        # Once the cluster is touched, a cancel no longer stops the run midway (the
        # components would stay down): it is only recorded.
        await tracked.report(
            self.job, Restore, self.restore_id, percent, title, tell_job=not self.touched
        )


async def _load(job: JobContext, restore_id: str) -> tuple[Restore, Backup, Cluster] | None:
    async with transaction(job.sessions) as session:
        restore = await session.get(Restore, restore_id)
        if restore is None or restore.status not in ACTIVE:
            return None
        backup = await session.get(Backup, restore.backup_id)
        if backup is None or backup.status != COMPLETED:
            raise PermanentJobError("the backup was deleted before it could be restored")
        target = await session.get(Cluster, restore.target_cluster_id)
        if target is None:
            raise PermanentJobError(f"cluster {restore.target_cluster_id} no longer exists")
        if target.id != backup.cluster_id or not members.is_created(target):
            raise PermanentJobError("an etcd snapshot is restored into its own created cluster")
        restore.mark_progress(step=STEPS["verify"][1])
        for row in (restore, backup, target):
            session.expunge(row)
        return restore, backup, target


async def verified_snapshot(job: JobContext, backup: Backup, out: Path, report: Any) -> int:
    """The snapshot of a verified archive in `out`; its size. Raises PermanentJobError
    (nothing touched) when the archive or the snapshot does not check out."""
    from taichu.backups.execution import storage_of, verify

    settings = job.app.settings
    storage = storage_of(settings, backup)
    path = storage.local_path(backup.storage_key)
    spool = None if path is not None else snap.snapshot_path(settings, f"{out.name}.tbk")
    try:
        verified = await verify(job, storage, backup, spool, report)
        expected = verified.manifest.get("etcd") or {}

        def extract() -> tuple[int, str]:
            with (path or spool).open("rb") as handle:  # type: ignore[union-attr]
                return snap.extract_snapshot(verified, handle, out)

        size, sha256 = await asyncio.to_thread(extract)
    except ArchiveError as e:
        raise PermanentJobError(
            f"backup archive failed verification: {e.message}; the cluster was not touched"
        ) from e
    finally:
        if spool is not None:
            spool.unlink(missing_ok=True)
        await storage.close()
    if sha256 != expected.get("sha256") or size != expected.get("size"):
        raise PermanentJobError(
            "the etcd snapshot in the archive does not match its checksum in the manifest; "
            "the cluster was not touched"
        )
    return size


async def _prepare(ctx: EngineContext, node: NodePlan, local: Path) -> None:
    """The member answers, has etcdutl, and holds a verified copy of the snapshot."""
    await ctx.run(
        node,
        f"test -x {members.ETCDUTL} || {{ echo {members.ETCDUTL} is missing >&2; exit 1; }}; "
        f"mkdir -p {REMOTE_DIR} && chmod 700 {REMOTE_DIR}",
        timeout=30,
    )
    await ctx.upload(node, local, f"{REMOTE_DIR}/snapshot.db", 0o600)
    await ctx.run(node, f"{members.ETCDUTL} snapshot status {REMOTE_DIR}/snapshot.db -w json")


async def _each(nodes: Any, body: Any) -> None:
    results = await asyncio.gather(*(body(n) for n in nodes), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _restore_member(ctx: EngineContext, run: Run, node: NodePlan) -> None:
    plan = run.plan
    peers = [(n.name, n.address) for n in plan.etcd_members()]
    command = members.etcdutl_restore(
        snapshot=f"{REMOTE_DIR}/snapshot.db",
        name=node.name,
        address=node.address,
        members=peers,
        token=plan.cluster_id,
        data_dir=NEW,
    )
    # The `member` of before the first attempt is kept (a rerun must not replace it with
    # a half-restored one); the member's restore is redone from scratch.
    await ctx.run(
        node,
        f"set -e; rm -f {RESTORED}; "
        f"if [ -d {BEFORE}/member ]; then rm -rf {DATA}/member; "
        f"else mkdir -p {BEFORE}; mv {DATA}/member {BEFORE}/member; fi; "
        f"rm -rf {NEW}; {command} >/dev/null; mv {NEW}/member {DATA}/member; rm -rf {NEW}; "
        f"chmod 700 {DATA}; touch {RESTORED}",
        timeout=600,
    )


async def _start_etcd(ctx: EngineContext, run: Run) -> None:
    async def start(node: NodePlan) -> None:
        await (await Machine(ctx, node).services()).start("etcd")

    await _each(run.plan.etcd_members(), start)

    async def healthy(node: NodePlan) -> None:
        await Machine(ctx, node).wait_command(
            "etcd healthy",
            f"{members.ETCDCTL} {members.etcd_tls()} --command-timeout=5s endpoint health",
            steps_control.ETCD_WAIT,
        )

    await _each(run.plan.etcd_members(), healthy)


async def _start_control(ctx: EngineContext, run: Run) -> None:
    async def start(node: NodePlan) -> None:
        m = Machine(ctx, node)
        services = await m.services()
        await services.start("kube-apiserver")
        await m.wait_command(
            "kube-apiserver /readyz",
            f"{steps_control.KUBECTL} get --raw=/readyz",
            steps_control.APISERVER_WAIT,
        )
        for name in CONTROL[1:]:
            await services.start(name)

    await _each(run.plan.masters(), start)


async def _stop(ctx: EngineContext, run: Run, names: tuple[str, ...], nodes: Any) -> None:
    async def stop(node: NodePlan) -> None:
        services = await Machine(ctx, node).services()
        for name in names:
            await services.stop(name)

    await _each(nodes, stop)


async def _recover(ctx: EngineContext, run: Run) -> None:
    """After a failure once the cluster was touched: unless every member holds its
    complete restored data (members of two histories never form a cluster), each gets its
    old data back; then every component is started again."""
    nodes = run.plan.etcd_members()
    done = [
        (await ctx.run(n, f"test -f {RESTORED}", timeout=30, check=False)).exit_status == 0
        for n in nodes
    ]
    if not all(done):

        async def put_back(node: NodePlan) -> None:
            await ctx.run(
                node,
                f"if [ -d {BEFORE}/member ]; then rm -rf {DATA}/member {NEW} {RESTORED}; "
                f"mv {BEFORE}/member {DATA}/member; fi",
                timeout=120,
                check=False,
            )

        await _each(nodes, put_back)
    await _start_etcd(ctx, run)
    await _start_control(ctx, run)


async def _cleanup(ctx: EngineContext, run: Run) -> None:
    async def clean(node: NodePlan) -> None:
        await ctx.run(
            node,
            f"rm -rf -- {REMOTE_DIR} {BEFORE} {NEW} {RESTORED}",
            timeout=300,
            check=False,
        )

    await _each(run.plan.etcd_members(), clean)


async def _verify(job: JobContext, target: Cluster) -> int:
    """The cluster answers through the platform's own connection: how many namespaces."""
    access = access_for(target, job.app)
    await job.app.kube.invalidate(target.id)  # connections opened before the restart
    last: Exception | None = None
    for _ in range(60):
        try:
            async with job.app.kube.client(target.id, access) as kube:
                found = await kube.get("/api/v1/namespaces", {"limit": 500})
                return len(found.get("items") or [])
        except TaichuError as e:
            last = e
            await asyncio.sleep(2)
    raise PermanentJobError(f"the cluster does not answer after the restore: {last}")


async def _park(job: JobContext, restore_id: str, cluster_id: str) -> str:
    """The cluster in maintenance while its components are down (the health monitor leaves
    it alone); returns the status to give it back, kept on the restore for a rerun."""
    async with transaction(job.sessions) as session:
        restore = await session.get(Restore, restore_id)
        cluster = await session.get(Cluster, cluster_id)
        kept = dict(restore.checkpoint or {}) if restore is not None else {}
        before = str(kept.get("status_before") or (cluster.status if cluster else "unknown"))
        if restore is not None:
            restore.checkpoint = {**kept, "status_before": before}
    await _set_status(job, cluster_id, "maintenance", "etcd restore")
    return before


async def _set_status(job: JobContext, cluster_id: str, status: str, why: str) -> str | None:
    async with transaction(job.sessions) as session:
        cluster = await session.get(Cluster, cluster_id)
        if cluster is None:
            return None
        old = cluster.status
        if old != status:
            cluster.status = status
            await cluster_events.record_transition(
                session, cluster.id, cluster.name, old, status, why
            )
        return old


async def run_etcd_restore(job: JobContext) -> dict[str, Any]:
    restore_id = job.payload["restore_id"]
    loaded = await _load(job, restore_id)
    if loaded is None:
        return {"skipped": "the restore had ended"}
    restore, backup, target = loaded
    progress = EtcdRestore(job, restore_id)
    await progress.step("verify")

    async def report(percent: float) -> None:
        await tracked.report(job, Restore, restore_id, percent, STEPS["verify"][1])

    local = snap.snapshot_path(job.app.settings, f"etcd-restore-{restore_id}.db")
    run: Run | None = None
    try:
        size = await verified_snapshot(job, backup, local, report)
        if restore.dry_run:
            return await _finish(job, restore_id, "Completed (dry run): the snapshot verified")
        run = await members.open_run(job, target.id)
        ctx = members.context(run, f"etcd-restore-{restore_id[:8]}", "Restoring etcd")
        await progress.step("members")
        await _each(run.plan.etcd_members(), lambda n: _prepare(ctx, n, local))
        old_status = await _park(job, restore_id, target.id)
        progress.touched = True
        try:
            await progress.step("stop")
            await _stop(ctx, run, CONTROL, run.plan.masters())
            await _stop(ctx, run, ("etcd",), run.plan.etcd_members())
            await progress.step("restore")
            await _each(run.plan.etcd_members(), lambda n: _restore_member(ctx, run, n))
            await progress.step("etcd")
            await _start_etcd(ctx, run)
            await progress.step("api")
            await _start_control(ctx, run)
        except BaseException:
            try:
                await asyncio.shield(_recover(ctx, run))
            except Exception:  # the restore's own failure is the one to report
                job.logger.warning("putting the cluster back after a failed restore failed")
            raise
        finally:
            await _set_status(job, target.id, old_status, "etcd restore ended")
        await progress.step("check")
        namespaces = await _verify(job, target)
        await _cleanup(ctx, run)
        return await _finish(job, restore_id, "Completed", size=size, namespaces=namespaces)
    except StepFailed as e:
        where = f"{e.node.label}: " if e.node is not None else ""
        touched = "" if progress.touched else "; the cluster was not touched"
        raise PermanentJobError(f"{where}{e.step}: {e.message}{touched}\n{e.output}") from e
    finally:
        local.unlink(missing_ok=True)
        if run is not None:
            await members.flush_and_close(run)


async def _finish(job: JobContext, restore_id: str, step: str, **result: Any) -> dict[str, Any]:
    async with transaction(job.sessions) as session:
        record = await session.get(Restore, restore_id)
        if record is not None:
            record.items_total = record.items_done = 1
            record.counts = {
                snap.SNAPSHOT_RESOURCE: {
                    "restored": 0 if "dry run" in step else 1,
                    "created": 0,
                    "updated": 0,
                    "skipped": 0,
                    "failed": 0,
                }
            }
            record.end(COMPLETED, step=step)
    return {"restore_id": restore_id, **result}
