"""The bodies of the backup and restore jobs: read the record, release the database, work
on the cluster and the storage, write the outcome — in short transactions throughout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from taichu import __version__
from taichu.backups.archive import ArchiveError
from taichu.backups.collect import BackupSpec, Collector
from taichu.backups.models import ACTIVE, COMPLETED, FAILED, Backup, Restore
from taichu.backups.reader import VerifiedArchive, Verifier
from taichu.backups.restore import Restorer, RestoreSpec, RestoreState
from taichu.backups.service import expiry
from taichu.backups.storage import LocalStorage, Storage, open_storage
from taichu.backups.writer import ArchiveWriter
from taichu.clusters.models import Cluster
from taichu.clusters.service import access_for
from taichu.config import Settings
from taichu.crypto import derive_key, load_master_secret
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.jobs import tracked
from taichu.jobs.registry import JobContext, JobLeaseLost, PermanentJobError
from taichu.timeutil import rfc3339, utcnow

VERIFY_SHARE = 10.0  # percent of a restore's progress bar spent verifying the archive


def archive_kek(settings: Settings) -> bytes:
    """Key-encryption key of archive data keys (one per installation secret). Derived
    per backup or restore (microseconds, next to the run), not cached in the module."""
    return derive_key(load_master_secret(settings), "backup-archive-kek")


def storage_of(settings: Settings, backup: Backup) -> Storage:
    """The storage an existing archive was written to (local: the directory it is in,
    even if the configured directory changed since)."""
    if backup.storage_backend == "local" and backup.storage_location:
        return LocalStorage(Path(backup.storage_location).parents[1])
    return open_storage(settings, backup.storage_backend)


async def _quietly(job: JobContext, what: str, call: Any) -> None:
    """Cleanup that must not replace the error being raised, nor be cut short by the
    cancellation that caused it."""
    try:
        await asyncio.shield(call)
    except BaseException:  # logged: the error being raised is what matters
        job.logger.warning("%s failed", what, exc_info=True)


# --- backup ------------------------------------------------------------------------------


async def begin_backup(
    session: AsyncSession, settings: Settings, backup_id: str, step: str
) -> tuple[Backup, Cluster, Storage, str] | dict[str, Any]:
    """Claims an active backup for its run: its cluster, its storage and its archive's key,
    with the first step recorded. A backup no longer active answers the job's skip result."""
    backup = await session.get(Backup, backup_id)
    if backup is None or backup.status not in ACTIVE:
        return {"skipped": f"backup is {backup.status if backup else 'gone'}"}
    cluster = await session.get(Cluster, backup.cluster_id)
    if cluster is None:
        raise PermanentJobError(f"cluster {backup.cluster_id} no longer exists")
    storage = open_storage(settings, backup.storage_backend)
    key = storage.key_for(cluster.id, backup.id)
    backup.mark_progress(0.0, step)
    backup.storage_key, backup.storage_location = key, storage.location(key)
    return backup, cluster, storage, key


async def run_backup(job: JobContext) -> dict[str, Any]:
    from taichu.backups import etcd_backup

    if await etcd_backup.is_etcd(job, job.payload["backup_id"]):
        return await etcd_backup.run_etcd_backup(job)
    backup_id = job.payload["backup_id"]
    settings = job.app.settings
    async with transaction(job.sessions) as session:
        started = await begin_backup(session, settings, backup_id, "Discovering resources")
        if isinstance(started, dict):
            return started
        backup, cluster, storage, key = started
        access = access_for(cluster, job.app)
        options = dict(backup.options)
        spec = BackupSpec(
            backup_type=backup.backup_type,
            included_namespaces=list(options.get("included_namespaces") or []),
            excluded_namespaces=list(options.get("excluded_namespaces") or []),
            label_selector=options.get("label_selector"),
            include_cluster_resources=options.get("include_cluster_resources"),
            page_size=settings.backups.list_page_size,
            concurrency=settings.backups.list_concurrency,
        )
        about = {"id": cluster.id, "name": cluster.name, "server": cluster.api_server_url}
        name, backup_type, created = backup.backup_name, backup.backup_type, backup.created_at
    await job.progress(0, "Discovering resources")
    step = ["Discovering resources"]

    async def report(done: int, total: int, current: str) -> None:
        step[0] = current
        percent = round(95.0 * done / total, 1) if total else 0.0

        def counts(record: Backup) -> None:
            record.items_done, record.items_total = done, total

        await tracked.report(job, Backup, backup_id, percent, current, update=counts)

    try:
        upload = await storage.upload(key)
        try:
            writer = ArchiveWriter(
                upload,
                backup_id=backup_id,
                cluster_id=about["id"],
                created_at=rfc3339(created) or "",
                kek=archive_kek(settings),
                chunk_size=settings.backups.chunk_kib << 10,
            )
            async with job.app.kube.client(about["id"], access) as kube:
                version = (await kube.version()).get("gitVersion")
                snapshot = utcnow()
                result = await Collector(kube, writer, spec, report).run()
            size, sha256 = await writer.finish(
                {
                    "format": 1,
                    "taichu_version": __version__,
                    "backup_id": backup_id,
                    "backup_name": name,
                    "backup_type": backup_type,
                    "cluster": {**about, "version": version},
                    "snapshot_timestamp": rfc3339(snapshot),
                    "completed_at": rfc3339(utcnow()),
                    "options": options,
                    "counts": result.counts,
                    "total_items": result.total,
                    "resources": result.resources,
                    "skipped_resources": result.skipped_resources,
                    "warnings": result.warnings,
                }
            )
            await upload.commit()
        except BaseException:
            await _quietly(job, "removing the unfinished archive", upload.abort())
            raise
    except TaichuError as e:
        raise PermanentJobError(
            f"backup failed while {step[0][0].lower() + step[0][1:]}: {e.message} "
            "(no archive was kept)"
        ) from e
    finally:
        await storage.close()
    async with transaction(job.sessions) as session:
        backup = await session.get(Backup, backup_id)
        if backup is None:
            return {"size": size}
        backup.end(COMPLETED)
        backup.snapshot_timestamp = snapshot
        backup.storage_size_bytes, backup.archive_sha256 = size, sha256
        backup.kubernetes_version = version
        backup.items_total = backup.items_done = result.total
        backup.resource_counts, backup.warnings = result.counts, result.warnings
        expiry(backup)
    return {"objects": result.total, "size": size}


# --- restore -----------------------------------------------------------------------------


async def verify(
    job: JobContext, storage: Storage, backup: Backup, spool: Path | None, report: Any
) -> VerifiedArchive:
    """Read the whole archive and check it (copying it to `spool` as it goes, for an
    archive that is not a local file): nothing is applied from an archive that is not
    intact and the one this backup wrote."""
    verifier = Verifier(archive_kek(job.app.settings))
    handle = spool.open("wb") if spool is not None else None
    seen, last = 0, 0
    try:
        async for data in storage.read(backup.storage_key):
            verifier.feed(data)
            if handle is not None:
                handle.write(data)
            seen += len(data)
            if seen - last >= 64 << 20:
                last = seen
                await report(VERIFY_SHARE * seen / max(backup.storage_size_bytes, 1))
        verified = verifier.finish()
    finally:
        if handle is not None:
            handle.close()
    if verified.header.fields.get("backup_id") != backup.id or (
        backup.archive_sha256 and verified.sha256 != backup.archive_sha256
    ):
        raise ArchiveError(
            "the archive in storage is not the one this backup wrote (its id or checksum differs)"
        )
    return verified


async def run_restore(job: JobContext) -> dict[str, Any]:
    from taichu.backups import etcd_backup, etcd_restore

    if await etcd_backup.is_etcd(job, None, job.payload["restore_id"]):
        return await etcd_restore.run_etcd_restore(job)
    restore_id = job.payload["restore_id"]
    settings = job.app.settings
    async with transaction(job.sessions) as session:
        restore = await session.get(Restore, restore_id)
        if restore is None or restore.status not in ACTIVE:
            return {"skipped": f"restore is {restore.status if restore else 'gone'}"}
        backup = await session.get(Backup, restore.backup_id)
        if backup is None or backup.status != COMPLETED:
            raise PermanentJobError("the backup was deleted before it could be restored")
        target = await session.get(Cluster, restore.target_cluster_id)
        if target is None:
            raise PermanentJobError(f"cluster {restore.target_cluster_id} no longer exists")
        access = access_for(target, job.app)
        restore.mark_progress(step="Verifying the archive")
        runs = int(restore.checkpoint.get("runs", 0)) + 1
        restore.checkpoint = {**restore.checkpoint, "runs": runs}
        options = dict(restore.options)
        spec = RestoreSpec(
            restore_id=restore.id,
            namespace_mapping=dict(options["namespace_mapping"]),
            included_namespaces=list(options["included_namespaces"]),
            existing_policy=options["existing_policy"],
            dry_run=bool(options["dry_run"]),
            concurrency=settings.backups.restore_concurrency,
            crd_timeout=settings.backups.crd_established_timeout_seconds,
            namespace_timeout=settings.backups.namespace_termination_timeout_seconds,
            max_errors=settings.backups.max_restore_errors,
        )
        state = RestoreState.resume(restore.checkpoint)
        session.expunge(backup)
    reporter = RestoreReporter(job, restore_id, runs)
    await reporter.verifying(0.0)
    storage = storage_of(settings, backup)
    path = storage.local_path(backup.storage_key)
    spool = None if path is not None else (settings.data_dir / "tmp" / f"restore-{restore_id}.tbk")
    try:
        if spool is not None:
            spool.parent.mkdir(parents=True, exist_ok=True)
        try:
            verified = await verify(job, storage, backup, spool, reporter.verifying)
        except ArchiveError as e:
            raise PermanentJobError(
                f"backup archive failed verification: {e.message}; nothing was restored"
            ) from e
        with (path or spool).open("rb") as handle:  # type: ignore[union-attr]
            async with job.app.kube.client(target.id, access) as kube:
                await Restorer(kube, verified, handle, spec, state, reporter.write).run()
    except JobLeaseLost:
        raise  # another worker owns the restore now: its record is not ours to write
    except (Exception, asyncio.CancelledError) as e:
        # Keep what was done (a retry resumes from it) and say why it stopped.
        message = e.message if isinstance(e, TaichuError) else str(e) or type(e).__name__
        await _quietly(
            job,
            "recording the restore's progress",
            reporter.write(state, True, f"Interrupted: {message[:200]}"),
        )
        raise
    finally:
        if spool is not None:
            spool.unlink(missing_ok=True)
        await storage.close()
    return await reporter.finish(state)


class RestoreReporter:
    def __init__(self, job: JobContext, restore_id: str, runs: int) -> None:
        self.job, self.restore_id, self.runs = job, restore_id, runs

    async def verifying(self, percent: float) -> None:
        await tracked.report(self.job, Restore, self.restore_id, percent, "Verifying the archive")

    async def write(
        self, state: RestoreState, _force: bool = False, step: str | None = None
    ) -> None:
        total = max(state.total, 1)
        percent = round(VERIFY_SHARE + (100 - VERIFY_SHARE) * state.items_done / total, 1)
        current = step or state.step
        await tracked.report(
            self.job,
            Restore,
            self.restore_id,
            percent,
            current,
            update=lambda record: self._counts(record, state),
            tell_job=step is None,  # an explicit step is the interruption being recorded
        )

    def _counts(self, record: Restore, state: RestoreState) -> None:
        record.items_total, record.items_done = state.total, state.items_done
        record.counts, record.errors = state.counts, list(state.errors)
        record.checkpoint = {**state.checkpoint(), "runs": self.runs}

    async def finish(self, state: RestoreState) -> dict[str, Any]:
        failed = state.failed
        async with transaction(self.job.sessions) as session:
            record = await session.get(Restore, self.restore_id)
            if record is None:
                return {"failed": failed}
            self._counts(record, state)
            if failed:
                record.end(
                    FAILED,
                    step="Completed with errors",
                    progress=100,
                    error=f"{failed} of {state.total} objects could not be "
                    "restored; the first errors are listed",
                )
            else:
                record.end(COMPLETED, step=state.step)
        return {"objects": state.total, "failed": failed}
