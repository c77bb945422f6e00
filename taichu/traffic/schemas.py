"""Response models of `/api/anomaly/traffic/` and `/api/anomaly/events/` (runtime family)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from taichu.api.schemas import OutModel


class TrafficSampleOut(OutModel):
    window_start: datetime
    window_end: datetime
    ip: str = Field(description="Client address (trusted-proxy rule); `other` past the cap.")
    requests: int
    blocked: int = Field(description="Refused by the blacklist (not evidence of anything).")
    monitored: int = Field(description="Matched a `monitor` blacklist entry.")
    status_2xx: int
    status_4xx: int
    status_5xx: int
    status_401: int
    status_403: int
    status_404: int
    not_found_paths: int = Field(description="Distinct missing paths (capped per replica).")
    login_failures: int
    login_usernames: int = Field(description="Distinct usernames that failed to log in.")
    bytes_in: int
    bytes_out: int
    users: int = Field(description="Distinct signed-in users.")
    latency_p50_ms: float | None = Field(description="Upper bound of the p50 bucket.")
    latency_p99_ms: float | None = Field(description="Upper bound of the p99 bucket.")
    replicas: int = Field(description="Replicas whose counts this sample adds up.")
    score: float = Field(description="Highest ratio to a detector threshold (>= 1: at one).")
    flags: list[str] = Field(description="Detectors that fired on this sample.")


class TrafficPage(BaseModel):
    items: list[TrafficSampleOut]
    total: int
    page: int
    limit: int


class AnomalyEventOut(OutModel):
    id: str
    detector: str
    ip: str | None
    username: str | None = Field(description="For `brute_force_user`: the account attacked.")
    window_start: datetime = Field(description="The evidence window.")
    window_end: datetime
    score: float
    evidence: dict[str, Any]
    mode: str = Field(description="`monitor` (flagged only) or `block` (auto-blocked).")
    offence: int = Field(description="Repeat offence number of the address when blocked.")
    blocked_until: datetime | None
    blacklist_entry_id: str | None
    created_at: datetime


class EventPage(BaseModel):
    items: list[AnomalyEventOut]
    total: int
    page: int
    limit: int
