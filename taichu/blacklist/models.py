"""Blacklist entries: networks refused (`block`) or flagged (`monitor`) at the HTTP edge."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin, TimestampMixin

BLOCK, MONITOR = "block", "monitor"
ACTIONS = (BLOCK, MONITOR)
MANUAL = "manual"


class BlacklistEntry(IdMixin, TimestampMixin, Base):
    __tablename__ = "blacklist_entries"
    __table_args__ = (
        Index("ix_blacklist_entries_range", "ip_version", "range_start", "range_end"),
        Index("ix_blacklist_entries_created_at_id", "created_at", "id"),
    )

    # Canonical text: "203.0.113.7" for one address, "10.0.0.0/24" for a network.
    ip: Mapped[str] = mapped_column(String(64), index=True)
    ip_version: Mapped[int] = mapped_column(Integer)
    # First and last address as 32 hex digits (taichu.blacklist.networks.bounds).
    range_start: Mapped[str] = mapped_column(String(32))
    range_end: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    # "manual", or the name of the detector that made it.
    source: Mapped[str] = mapped_column(String(64), default=MANUAL, index=True)
    # None: until removed. Expired entries stay (history) but no longer apply.
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hit_at: Mapped[datetime | None]

    def is_active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now
