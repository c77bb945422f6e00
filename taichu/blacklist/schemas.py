"""Request and response bodies of the blacklist (runtime family: plain JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

from taichu.api.schemas import InModel, OutModel
from taichu.blacklist import networks


class EntryIn(InModel):
    ip: str = Field(
        max_length=64, description="IPv4/IPv6 address or CIDR (host bits clear), e.g. 10.0.0.0/24"
    )
    action: Literal["block", "monitor"] = Field(
        "block", description="`block`: refused (403) before anything else; `monitor`: flagged"
    )
    reason: str = Field("", max_length=500)
    expires_at: AwareDatetime | None = Field(
        None, description="RFC 3339 with a zone, in the future; omitted: until removed"
    )
    force: bool = Field(
        False,
        description="Block even a network holding your own address or loopback "
        "(refused otherwise, so an admin cannot lock themself out by mistake)",
    )

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        return networks.display(networks.parse_network(value))


class EntryOut(OutModel):
    id: str
    ip: str
    action: str
    reason: str
    expires_at: datetime | None
    source: str = Field(description="`manual`, or the detector that made it")
    created_by: str | None = Field(description="who made it; null for the platform itself")
    created_at: datetime
    updated_at: datetime
    hits: int = Field(description="requests it matched (written in batches, a few s late)")
    last_hit_at: datetime | None
    active: bool = Field(description="false once expired: kept for the record, not applied")


class EntryList(OutModel):
    entries: list[EntryOut]
    total: int
    page: int
    limit: int
