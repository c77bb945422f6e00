"""The platform's own events about machines: status and reachability changes, host keys."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.machines.models import MachineEvent

MAX_MESSAGE = 2000
_SEVERITY = {
    "available": "info",
    "unavailable": "critical",
    "maintenance": "info",
    "error": "error",
    "in_use": "info",
    "deploying": "info",
    "offline": "critical",
}


async def record(
    session: AsyncSession,
    machine_id: str,
    *,
    reason: str,
    severity: str,
    message: str,
    component: str = "taichu",
) -> MachineEvent:
    event = MachineEvent(
        machine_id=machine_id,
        reason=reason,
        severity=severity,
        message=message[:MAX_MESSAGE],
        component=component,
    )
    session.add(event)
    await session.flush()
    return event


async def record_transition(
    session: AsyncSession,
    machine_id: str,
    name: str,
    old: str,
    new: str,
    detail: str | None,
    component: str,
) -> MachineEvent:
    message = f"Machine {name} changed from {old} to {new}"
    if detail:
        message += f": {detail}"
    reason = "".join(part.title() for part in new.split("_"))
    return await record(
        session,
        machine_id,
        reason=reason,
        severity=_SEVERITY.get(new, "info"),
        message=message,
        component=component,
    )


async def record_reachability(
    session: AsyncSession, machine_id: str, name: str, status: str, detail: str | None
) -> MachineEvent:
    """A machine whose status a check keeps (in use, maintenance...) stopped or started
    answering: worth an event of its own, its status says nothing about it."""
    if detail:
        message = f"Machine {name} ({status}) does not answer: {detail}"
        reason, severity = "Unreachable", "critical"
    else:
        message, reason, severity = f"Machine {name} ({status}) answers again", "Reachable", "info"
    return await record(
        session,
        machine_id,
        reason=reason,
        severity=severity,
        message=message,
        component="machine-monitor",
    )


async def list_events(
    session: AsyncSession, machine_id: str, offset: int, limit: int
) -> tuple[list[MachineEvent], int]:
    """Newest first."""
    query = select(MachineEvent).where(MachineEvent.machine_id == machine_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    ordered = query.order_by(MachineEvent.created_at.desc(), MachineEvent.id)
    return list(await session.scalars(ordered.offset(offset).limit(limit))), int(total or 0)
