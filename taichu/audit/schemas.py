from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Query
from pydantic import BaseModel

from taichu.api.schemas import OutModel
from taichu.audit.service import AuditFilter


class AuditEventOut(OutModel):
    id: str
    event_type: str
    action: str
    resource: str
    resource_id: str | None
    user: str | None
    ip_address: str | None
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None
    details: dict[str, Any] | None
    result: str
    timestamp: datetime


class AuditEventList(BaseModel):
    events: list[AuditEventOut]
    total: int
    page: int
    limit: int


def audit_filter(
    event_type: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64),
    user: str | None = Query(None, max_length=64),
    result: str | None = Query(None, max_length=16),
    start_time: datetime | None = Query(None, description="RFC 3339"),
    end_time: datetime | None = Query(None, description="RFC 3339"),
) -> AuditFilter:
    return AuditFilter(
        event_type=event_type,
        action=action,
        user=user,
        result=result,
        start_time=start_time,
        end_time=end_time,
    )
