"""Verifying the audit chain from the API: `POST /api/v1/audit/verification` enqueues a job
that walks the chain (integrity.verify_chain, the check `taichu audit verify` runs) with
the installation's key; its outcome is kept in the job's result, so the latest job is the
latest verification (no table of its own)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit.integrity import verify_chain
from taichu.audit.models import AuditRecord
from taichu.errors import Conflict
from taichu.jobs import service as jobs
from taichu.jobs.models import ACTIVE_STATES, Job
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.timeutil import rfc3339

VERIFY_KIND = "audit.verify-chain"
VERIFY_KEY = "audit:verify-chain"
BATCH = 500  # records per query; their hashes and MACs take milliseconds on the loop

# The job's states in the platform's task spellings (状态说明: pending … cancelled).
STATUS = {
    "queued": "pending",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


async def latest(session: AsyncSession) -> Job | None:
    return await session.scalar(
        select(Job)
        .where(Job.kind == VERIFY_KIND)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    )


async def request_verification(session: AsyncSession) -> Job:
    """Enqueue a verification (the caller commits); 409 while one is pending or running."""
    active = await latest(session)
    if active is not None and active.status in ACTIVE_STATES:
        raise Conflict(f"a verification of the audit chain is {STATUS[active.status]}: {active.id}")
    # The de-duplication key still guards a race between two requests (one job at most).
    return await jobs.enqueue(session, VERIFY_KIND, {}, dedup_key=VERIFY_KEY)


def verification_out(job: Job) -> dict[str, Any]:
    result = job.result or {}
    return {
        "job_id": job.id,
        "status": STATUS.get(job.status, job.status),
        "progress": job.progress,
        "error_message": job.error,
        "created_at": rfc3339(job.created_at),
        "started_at": rfc3339(job.started_at),
        "finished_at": rfc3339(job.finished_at),
        "intact": result.get("intact"),
        "records_checked": result.get("records_checked"),
        "head_seq": result.get("head_seq"),
        "first_bad_seq": result.get("first_bad_seq"),
        "reason": result.get("reason"),
    }


async def run_verification(job: JobContext) -> dict[str, Any]:
    async with job.app.read_sessions() as session:
        total = await session.scalar(select(func.count()).select_from(AuditRecord)) or 0

        async def progress(checked: int) -> None:
            await job.progress(min(99.0, 100.0 * checked / total) if total else None)

        report = await verify_chain(session, job.app.audit_key, batch=BATCH, on_batch=progress)
    await job.progress(100.0)
    broken = report.broken
    return {
        "intact": broken is None,
        "records_checked": report.checked,
        "head_seq": report.head[0] if report.head else None,
        "first_bad_seq": broken.seq if broken else None,
        "reason": broken.reason if broken else None,
    }


def register(registry: JobRegistry) -> None:
    registry.handler(VERIFY_KIND, max_attempts=1)(run_verification)
