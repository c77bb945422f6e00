from __future__ import annotations

from fastapi import APIRouter, Depends

from taichu.api.deps import AdminUser, Session
from taichu.api.envelope import Envelope, PageParams, ok, page_params
from taichu.audit import service, verification
from taichu.audit.schemas import AuditEventList, AuditEventOut, VerificationOut, audit_filter
from taichu.audit.service import AuditFilter

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def audit_page(records: list[object], total: int, paging: PageParams) -> dict[str, object]:
    return {
        "events": [AuditEventOut.model_validate(r).model_dump(mode="json") for r in records],
        "total": total,
        "page": paging.page,
        "limit": paging.limit,
    }


@router.get("", response_model=Envelope[AuditEventList])
async def list_audit(
    _: AdminUser,
    session: Session,
    flt: AuditFilter = Depends(audit_filter),
    paging: PageParams = Depends(page_params),
) -> dict[str, object]:
    records, total = await service.list_records(session, flt, paging.offset, paging.limit)
    return ok(audit_page(list(records), total, paging))


@router.post("/verification", response_model=Envelope[VerificationOut])
async def start_verification(_: AdminUser, session: Session) -> dict[str, object]:
    job = await verification.request_verification(session)
    await session.flush()
    return ok(verification.verification_out(job))


@router.get("/verification", response_model=Envelope[VerificationOut | None])
async def latest_verification(_: AdminUser, session: Session) -> dict[str, object]:
    job = await verification.latest(session)
    return ok(verification.verification_out(job) if job else None)
