"""Preflight endpoints: `POST /machines/preflight` (a set) and `/machines/{id}/preflight`.

Admin only: they run commands on the machines. Declared before the machines' own routes
so `/machines/preflight` is never taken for an id.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from taichu.api.deps import AdminUser, Ctx
from taichu.api.envelope import Envelope, ok
from taichu.machines import preflight_service

router = APIRouter(prefix="/api/v1", tags=["machines"])


class PreflightRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    machine_ids: list[str] = Field(description="Machines of the set (at most 200).")
    roles: dict[str, str] | None = Field(
        None, description="Machine id -> intended role; default: each machine's stored role."
    )


class OnePreflightRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(None, description="Intended role; default: its stored role.")


class CheckOut(BaseModel):
    name: str
    status: Literal["pass", "warn", "fail"]
    message: str
    hint: str | None
    machine_ids: list[str]


class MachinePreflightOut(BaseModel):
    id: str
    name: str
    ip_address: str
    role: str
    passed: bool
    checks: list[CheckOut]


class PreflightSummary(BaseModel):
    pass_: int = Field(alias="pass")
    warn: int
    fail: int


class PreflightOut(BaseModel):
    passed: bool = Field(description="No check failed (warnings do not block).")
    summary: PreflightSummary
    checks: list[CheckOut] = Field(description="Checks across the set.")
    machines: list[MachinePreflightOut]


@router.post(
    "/machines/preflight", response_model=Envelope[PreflightOut], operation_id="machines_preflight"
)
async def preflight_set(body: PreflightRequest, _: AdminUser, ctx: Ctx) -> dict[str, object]:
    """Fresh facts of every machine over SSH, checked as a set for the intended roles."""
    report = await preflight_service.run_preflight(ctx, body.machine_ids, body.roles)
    return ok(report.to_json())


@router.post(
    "/machines/{id}/preflight",
    response_model=Envelope[PreflightOut],
    operation_id="machines_preflight_one",
)
async def preflight_one(
    id: str, _: AdminUser, ctx: Ctx, body: OnePreflightRequest | None = None
) -> dict[str, object]:
    roles = {id: body.role} if body is not None and body.role else None
    report = await preflight_service.run_preflight(ctx, [id], roles, one=True)
    return ok(report.to_json())
