"""Reading samples and events for the API: filters, pagination, merge across replicas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.traffic import detectors
from taichu.traffic.models import AnomalyEvent, TrafficSample
from taichu.traffic.settings import AnomalySettings
from taichu.traffic.store import merge


@dataclass(frozen=True)
class TrafficQuery:
    start: datetime | None = None
    end: datetime | None = None  # exclusive
    ip_range: tuple[str, str] | None = None  # inclusive ip_key range
    flagged: bool = False
    offset: int = 0
    limit: int = 20


def _flagged(sample: type[TrafficSample]) -> Any:
    return exists().where(
        AnomalyEvent.ip == sample.ip, AnomalyEvent.window_start == sample.window_start
    )


async def list_traffic(
    session: AsyncSession, query: TrafficQuery, rules: AnomalySettings
) -> tuple[list[dict[str, Any]], int]:
    """One item per (window, address), every replica's rows merged, newest first."""
    filters: list[Any] = []
    if query.start is not None:
        filters.append(TrafficSample.window_start >= query.start)
    if query.end is not None:
        filters.append(TrafficSample.window_start < query.end)
    if query.ip_range is not None:
        filters.append(TrafficSample.ip_key.between(*query.ip_range))
    if query.flagged:
        filters.append(_flagged(TrafficSample))
    groups = (
        select(TrafficSample.window_start, TrafficSample.ip)
        .where(*filters)
        .group_by(TrafficSample.window_start, TrafficSample.ip)
    )
    total = int(await session.scalar(select(func.count()).select_from(groups.subquery())) or 0)
    keys = list(
        (
            await session.execute(
                groups.order_by(TrafficSample.window_start.desc(), TrafficSample.ip)
                .offset(query.offset)
                .limit(query.limit)
            )
        ).tuples()
    )
    if not keys:
        return [], total
    rows = await session.scalars(
        select(TrafficSample).where(
            or_(*(and_(TrafficSample.window_start == w, TrafficSample.ip == ip) for w, ip in keys))
        )
    )
    merged = merge(rows)
    events = await session.execute(
        select(
            AnomalyEvent.window_start, AnomalyEvent.ip, AnomalyEvent.detector, AnomalyEvent.score
        ).where(
            or_(*(and_(AnomalyEvent.window_start == w, AnomalyEvent.ip == ip) for w, ip in keys))
        )
    )
    flags: dict[tuple[datetime, str], dict[str, float]] = {}
    for window_start, ip, detector, score in events.tuples():
        flags.setdefault((window_start, ip), {})[detector] = score
    items = []
    for key in keys:
        sample = merged[key]
        fired = flags.get(key, {})
        item = sample.summary()
        item["score"] = max([detectors.score_of(sample, rules), *fired.values()])
        item["flags"] = sorted(fired)
        items.append(item)
    return items, total


@dataclass(frozen=True)
class EventQuery:
    ip_range: tuple[str, str] | None = None
    detector: str | None = None
    since: datetime | None = None
    offset: int = 0
    limit: int = 20


async def list_events(session: AsyncSession, query: EventQuery) -> tuple[list[AnomalyEvent], int]:
    filters: list[Any] = []
    if query.ip_range is not None:
        filters.append(AnomalyEvent.ip_key.between(*query.ip_range))
    if query.detector is not None:
        filters.append(AnomalyEvent.detector == query.detector)
    if query.since is not None:
        filters.append(AnomalyEvent.created_at >= query.since)
    total = int(
        await session.scalar(select(func.count()).select_from(AnomalyEvent).where(*filters)) or 0
    )
    page = await session.scalars(
        select(AnomalyEvent)
        .where(*filters)
        .order_by(AnomalyEvent.created_at.desc(), AnomalyEvent.id)
        .offset(query.offset)
        .limit(query.limit)
    )
    return list(page), total
