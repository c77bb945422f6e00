from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Query
from pydantic import BaseModel, Field

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


class VerificationOut(BaseModel):
    """One verification of the audit chain (a job); the outcome fields are null until it
    has completed, `first_bad_seq` and `reason` null while the chain is intact."""

    job_id: str
    status: str = Field(description="pending | in_progress | completed | failed | cancelled")
    progress: float = Field(description="0-100: the share of the records checked so far")
    error_message: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    intact: bool | None
    records_checked: int | None
    head_seq: int | None = Field(description="seq of the newest record verified")
    first_bad_seq: int | None
    reason: str | None
