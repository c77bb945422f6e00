"""A cluster's events: its Kubernetes Events (from the cache) merged with the platform's
own (`platform_events`), newest first. The platform's events are served even when the
cluster cannot be read: a disconnect is exactly when they matter."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters.models import PlatformEvent
from taichu.errors import Invalid
from taichu.observe.slim import SlimEvent

SEVERITIES = ("info", "warning", "error", "critical")
# The newest platform events considered; the health monitor records transitions only, so
# a cluster reaching this many is already pathological.
PLATFORM_EVENTS_LIMIT = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_severity(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    severity = value.strip().lower()
    if severity not in SEVERITIES:
        raise Invalid(f"severity: must be one of {', '.join(SEVERITIES)}")
    return severity


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def platform_events(
    session: AsyncSession, cluster_id: str, since: datetime | None
) -> list[PlatformEvent]:
    query = select(PlatformEvent).where(PlatformEvent.cluster_id == cluster_id)
    if since is not None:
        query = query.where(PlatformEvent.last_seen >= since)
    query = query.order_by(PlatformEvent.last_seen.desc(), PlatformEvent.id)
    return list(await session.scalars(query.limit(PLATFORM_EVENTS_LIMIT)))


def _since(events: list[SlimEvent], since: datetime | None) -> Iterator[SlimEvent]:
    """Events (newest first) seen at or after `since`: stops at the first older one."""
    for event in events:
        if since is not None and (event.last_seen is None or event.last_seen < since):
            return
        yield event


def _cluster_item(e: SlimEvent) -> dict[str, Any]:
    return {
        "id": e.uid,
        "event_type": e.kind,
        "message": e.message,
        "severity": e.severity,
        "component": e.component,
        "count": e.count,
        "first_seen": e.first_seen,
        "last_seen": e.last_seen,
        "created_at": e.created_at,
        "source": "kubernetes",
        "reason": e.reason,
        "namespace": e.namespace or None,
        "object_name": e.object_name,
    }


def _platform_item(e: PlatformEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "event_type": e.event_type,
        "message": e.message,
        "severity": e.severity,
        "component": e.component,
        "count": e.count,
        "first_seen": e.first_seen,
        "last_seen": e.last_seen,
        "created_at": e.created_at,
        "source": "platform",
        "reason": e.reason,
        "namespace": None,
        "object_name": None,
    }


def _last_seen(item: SlimEvent | PlatformEvent) -> datetime:
    return as_utc(item.last_seen) or _EPOCH


def merge_events(
    cluster: list[SlimEvent],
    platform: Iterable[PlatformEvent],
    *,
    severity: str | None,
    since: datetime | None,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """One page of both sources merged newest first, with per-severity counts. `cluster` is
    newest first (the store's order); `platform` likewise (the query's)."""
    recent = list(_since(cluster, since))
    platform = list(platform)
    counts = Counter(e.severity for e in recent)
    counts.update(e.severity for e in platform)
    if severity is not None:
        recent = [e for e in recent if e.severity == severity]
        platform = [e for e in platform if e.severity == severity]
    merged = heapq.merge(recent, platform, key=_last_seen, reverse=True)
    page: list[dict[str, Any]] = []
    for index, item in enumerate(merged):
        if index >= offset + limit:
            break
        if index >= offset:
            page.append(
                _cluster_item(item) if isinstance(item, SlimEvent) else _platform_item(item)
            )
    return {
        "events": page,
        "total": len(recent) + len(platform),
        "summary": {f"{s}_count": counts.get(s, 0) for s in SEVERITIES},
    }
