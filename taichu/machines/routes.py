"""Machine endpoints of `/api/v1`: the inventory (admins write, signed-in users read),
status, checks and host keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from taichu.api.deps import AdminUser, Ctx, CurrentUser, Session
from taichu.api.envelope import Envelope, MessageData, PageParams, ok, page_params
from taichu.errors import Invalid
from taichu.machines import checks, events, service
from taichu.machines.models import Machine
from taichu.machines.schemas import (
    ROLES_TEXT,
    CheckQueued,
    HostKeyIn,
    MachineDetail,
    MachineEventList,
    MachineEventOut,
    MachineIn,
    MachineList,
    MachineSummary,
    StatusIn,
    StatusOut,
    normalize_status,
)

router = APIRouter(prefix="/api/v1", tags=["machines"])


def detail(machine: Machine) -> dict[str, object]:
    data = MachineDetail.model_validate(
        {
            **{c: getattr(machine, c) for c in MachineDetail.model_fields if hasattr(machine, c)},
            "has_password": bool(machine.password_encrypted),
            "has_private_key": bool(machine.private_key_encrypted),
            "host_key_fingerprint": service.host_key_fingerprint(machine),
        }
    )
    return data.model_dump(mode="json")


@router.post("/machines", response_model=Envelope[MachineDetail])
async def create_machine(
    body: MachineIn, principal: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    machine = await service.create_machine(session, ctx.box, body, principal)
    return ok(detail(machine))


@router.get("/machines", response_model=Envelope[MachineList])
async def list_machines(
    _: CurrentUser,
    session: Session,
    paging: PageParams = Depends(page_params),
    status: str | None = Query(None, max_length=32, description="a status (in-use accepted)"),
    role: str | None = Query(None, max_length=32, description=ROLES_TEXT),
    label_selector: str | None = Query(None, max_length=2000),
    search: str | None = Query(None, max_length=100, description="name or address contains"),
) -> dict[str, object]:
    if status:
        try:
            status = normalize_status(status)
        except ValueError as e:
            raise Invalid(f"status: {e}") from e
    if role and role not in ROLES_TEXT.split("|"):
        raise Invalid(f"role: must be one of {ROLES_TEXT}")
    machines, total = await service.list_machines(
        session,
        status=status,
        role=role,
        label_selector=label_selector,
        search=search,
        offset=paging.offset,
        limit=paging.limit,
    )
    items = [MachineSummary.model_validate(m).model_dump(mode="json") for m in machines]
    return ok({"machines": items, "total": total, "page": paging.page, "limit": paging.limit})


@router.get("/machines/{id}", response_model=Envelope[MachineDetail])
async def get_machine(id: str, _: CurrentUser, session: Session) -> dict[str, object]:
    return ok(detail(await service.get_machine(session, id)))


@router.put("/machines/{id}", response_model=Envelope[MachineDetail])
async def update_machine(
    id: str, body: MachineIn, _: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    return ok(detail(await service.update_machine(ctx, session, id, body)))


@router.delete("/machines/{id}", response_model=Envelope[MessageData])
async def delete_machine(id: str, _: AdminUser, session: Session) -> dict[str, object]:
    await service.delete_machine(session, id)
    return ok({"message": "Machine deleted"})


@router.put("/machines/{id}/status", response_model=Envelope[StatusOut])
async def set_status(
    id: str, body: StatusIn, principal: AdminUser, session: Session
) -> dict[str, object]:
    machine = await service.set_status(session, id, body.status, body.message, principal)
    out = StatusOut(
        id=machine.id,
        status=machine.status,
        message=machine.status_message,
        updated_at=machine.updated_at,
    )
    return ok(out.model_dump(mode="json"))


@router.post(
    "/machines/{id}/check", response_model=Envelope[CheckQueued], operation_id="machines_check"
)
async def check_machine(id: str, _: AdminUser, session: Session) -> dict[str, object]:
    machine = await service.get_machine(session, id)
    job = await service.enqueue_check(session, machine.id)
    queued = CheckQueued(
        id=machine.id, job_id=job.id, status=machine.status, message="check queued"
    )
    return ok(queued.model_dump(mode="json"))


@router.post(
    "/machines/{id}/host-key",
    response_model=Envelope[MachineDetail],
    operation_id="machines_pin_host_key",
)
async def pin_host_key(
    id: str, body: HostKeyIn, principal: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    machine = await checks.repin_host_key(ctx, session, id, body, principal)
    return ok(detail(machine))


@router.get(
    "/machines/{id}/events",
    response_model=Envelope[MachineEventList],
    operation_id="machines_events",
)
async def machine_events(
    id: str,
    _: CurrentUser,
    session: Session,
    paging: PageParams = Depends(page_params),
) -> dict[str, object]:
    machine = await service.get_machine(session, id)
    records, total = await events.list_events(session, machine.id, paging.offset, paging.limit)
    items = [MachineEventOut.model_validate(r).model_dump(mode="json") for r in records]
    return ok({"events": items, "total": total, "page": paging.page, "limit": paging.limit})
