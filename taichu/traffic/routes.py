"""`GET /api/anomaly/traffic/` and `GET /api/anomaly/events/` (runtime family, admins)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from taichu.api.deps import AdminUser, Ctx, Session
from taichu.api.envelope import PageParams, page_params
from taichu.errors import BadRequest
from taichu.traffic import service
from taichu.traffic.addresses import key_range
from taichu.traffic.schemas import AnomalyEventOut, EventPage, TrafficPage, TrafficSampleOut
from taichu.traffic.settings import DETECTORS

router = APIRouter(prefix="/api/anomaly", tags=["runtime: anomaly"])

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3339: a date, "T" or " ", a time, and an offset (Z or +hh:mm) — never a local time.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time(text: str | None, field: str, *, end_of_day: bool = False) -> datetime | None:
    """A date (its start; with `end_of_day`, the next day's start, so `end=2026-01-08`
    includes that day) or an RFC 3339 time; 400 naming the field otherwise."""
    if text is None:
        return None
    value = text.strip()
    try:
        if _DATE.match(value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        if _RFC3339.match(value):
            fraction = re.sub(r"\.(\d{6})\d+", r".\1", value)  # Python keeps microseconds
            return datetime.fromisoformat(fraction.replace("z", "Z")).astimezone(UTC)
    except ValueError:
        pass
    raise BadRequest(
        f"{field}: expected a date (2026-01-01) or an RFC 3339 time "
        f"(2026-01-01T00:00:00Z), got {text[:40]!r}"
    )


Page = Annotated[PageParams, Depends(page_params)]


@router.get("/traffic/", response_model=TrafficPage)
async def list_traffic(
    _: AdminUser,
    ctx: Ctx,
    session: Session,
    page: Page,
    start: str | None = Query(None, description="Date or RFC 3339; windows from then."),
    end: str | None = Query(None, description="Date (inclusive) or RFC 3339 (exclusive)."),
    ip: str | None = Query(None, description="An address or a CIDR."),
    flagged: bool = Query(False, description="Only samples a detector fired on."),
) -> TrafficPage:
    since, until = parse_time(start, "start"), parse_time(end, "end", end_of_day=True)
    if since is not None and until is not None and since >= until:
        raise BadRequest("start: must be before end")
    query = service.TrafficQuery(
        start=since,
        end=until,
        ip_range=key_range(ip, "ip") if ip is not None else None,
        flagged=flagged,
        offset=page.offset,
        limit=page.limit,
    )
    items, total = await service.list_traffic(session, query, ctx.settings.anomaly)
    return TrafficPage(
        items=[TrafficSampleOut.model_validate(item) for item in items],
        total=total,
        page=page.page,
        limit=page.limit,
    )


@router.get("/events/", response_model=EventPage)
async def list_events(
    _: AdminUser,
    session: Session,
    page: Page,
    ip: str | None = Query(None, description="An address or a CIDR."),
    detector: str | None = Query(None, description=f"One of: {', '.join(DETECTORS)}."),
    since: str | None = Query(None, description="Date or RFC 3339; events recorded since."),
) -> EventPage:
    if detector is not None and detector not in DETECTORS:
        raise BadRequest(f"detector: must be one of {', '.join(DETECTORS)}")
    query = service.EventQuery(
        ip_range=key_range(ip, "ip") if ip is not None else None,
        detector=detector,
        since=parse_time(since, "since"),
        offset=page.offset,
        limit=page.limit,
    )
    events, total = await service.list_events(session, query)
    return EventPage(
        items=[AnomalyEventOut.model_validate(e) for e in events],
        total=total,
        page=page.page,
        limit=page.limit,
    )
