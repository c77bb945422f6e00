"""`/api/anomaly/blacklist/` (runtime family, admins only)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from taichu.api.client import client_address
from taichu.api.deps import AdminUser, Session
from taichu.api.envelope import PageParams, page_params
from taichu.blacklist import service
from taichu.blacklist.enforcement import Blocklist
from taichu.blacklist.models import BlacklistEntry
from taichu.blacklist.schemas import EntryIn, EntryList, EntryOut
from taichu.timeutil import utcnow

router = APIRouter(prefix="/api/anomaly", tags=["runtime: anomaly"])


def _blocklist(request: Request) -> Blocklist:
    return request.app.state.blocklist


def out(entry: BlacklistEntry) -> EntryOut:
    fields = {name: getattr(entry, name) for name in EntryOut.model_fields if name != "active"}
    return EntryOut(**fields, active=entry.is_active(utcnow()))


@router.get("/blacklist/", response_model=EntryList)
async def list_entries(
    _: AdminUser,
    session: Session,
    paging: PageParams = Depends(page_params),
    ip: str | None = Query(None, max_length=64, description="address or CIDR it overlaps"),
    action: Literal["block", "monitor"] | None = Query(None),
    source: str | None = Query(None, max_length=64, description="`manual` or a detector"),
    active: bool | None = Query(None, description="true: in force; false: expired"),
) -> EntryList:
    filters = service.EntryFilter(ip=ip, action=action, source=source, active=active)
    entries, total = await service.list_entries(
        session, filters, paging.offset, paging.limit, utcnow()
    )
    return EntryList(
        entries=[out(e) for e in entries], total=total, page=paging.page, limit=paging.limit
    )


@router.post("/blacklist/", response_model=EntryOut)
async def create_entry(
    body: EntryIn, principal: AdminUser, session: Session, request: Request
) -> EntryOut:
    blocklist = _blocklist(request)
    caller = service.Caller(principal, client_address(request.scope))
    entry = await service.create_entry(session, body, caller, blocklist.allow)
    blocklist.after_commit(session, lambda: blocklist.put(entry))
    return out(entry)


@router.delete("/blacklist/{id}/", response_model=EntryOut)
async def delete_entry(id: str, _: AdminUser, session: Session, request: Request) -> EntryOut:
    entry = await service.delete_entry(session, id)
    blocklist = _blocklist(request)
    blocklist.after_commit(session, lambda: blocklist.drop(entry.id))
    return out(entry)
