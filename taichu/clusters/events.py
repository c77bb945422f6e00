"""The platform's own events about clusters (status changes, imports)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters.models import PlatformEvent

# Severity of a status transition, by the status reached.
_TRANSITION_SEVERITY = {
    "healthy": "info",
    "unhealthy": "warning",
    "disconnected": "critical",
    "error": "error",
    "maintenance": "info",
    "pending": "info",
    "unknown": "warning",
}


async def record(
    session: AsyncSession,
    cluster_id: str,
    *,
    reason: str,
    severity: str,
    message: str,
    event_type: str = "Cluster",
    component: str = "taichu",
) -> PlatformEvent:
    event = PlatformEvent(
        cluster_id=cluster_id,
        event_type=event_type,
        reason=reason,
        severity=severity,
        message=message,
        component=component,
    )
    session.add(event)
    await session.flush()
    return event


async def record_transition(
    session: AsyncSession, cluster_id: str, name: str, old: str, new: str, detail: str | None
) -> PlatformEvent:
    reason = {"disconnected": "Disconnected", "healthy": "Healthy"}.get(new, new.title())
    message = f"Cluster {name} changed from {old} to {new}"
    if detail:
        message += f": {detail}"
    return await record(
        session,
        cluster_id,
        reason=reason,
        severity=_TRANSITION_SEVERITY.get(new, "info"),
        message=message[:2000],
        component="health-monitor",
    )
