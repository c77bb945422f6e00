"""`GET /api/v1/clusters/{id}/certificates` and `POST .../certificates/renew`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from taichu.api.deps import AdminUser, Ctx, CurrentUser, Session
from taichu.api.envelope import Envelope, ok
from taichu.audit import context as audit
from taichu.clusters.service import get_cluster, managed_cluster
from taichu.errors import Invalid
from taichu.jobs.models import Job
from taichu.provision import certificates, certificates_renew, members
from taichu.provision.certificates_schemas import CertificatesOut, RenewalOut, RenewIn
from taichu.timeutil import rfc3339

router = APIRouter(prefix="/api/v1", tags=["certificates"])


def renewal_out(job: Job) -> dict[str, Any]:
    return RenewalOut(
        job_id=job.id,
        status=job.status,
        progress=job.progress,
        current_step=job.step,
        error_message=job.error,
        created_at=rfc3339(job.created_at),
        started_at=rfc3339(job.started_at),
        finished_at=rfc3339(job.finished_at),
        result=job.result,
    ).model_dump(mode="json")


@router.get("/clusters/{id}/certificates", response_model=Envelope[CertificatesOut])
async def get_certificates(
    id: str, _: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    cluster = await get_cluster(session, id)
    await members.require_created(session, cluster, "certificates")
    found = await certificates.cluster_certificates(ctx, session, cluster)
    if found is None:
        raise Invalid(f"certificates: the platform keeps no certificates of {cluster.name}")
    job = await certificates_renew.last_renewal(session, cluster.id)
    return ok({**(found or {}), "last_renewal": renewal_out(job) if job else None})


@router.post("/clusters/{id}/certificates/renew", response_model=Envelope[RenewalOut])
async def renew_certificates(
    id: str, principal: AdminUser, session: Session, body: RenewIn | None = None
) -> dict[str, object]:
    cluster = await managed_cluster(session, principal, id)
    job = await certificates_renew.request_renewal(session, cluster)
    audit.note(
        resource="cluster",
        resource_id=cluster.id,
        cluster_id=cluster.id,
        details={"certificates": "renew", "job_id": job.id, "reason": body.reason if body else ""},
    )
    await session.flush()
    return ok(renewal_out(job))
