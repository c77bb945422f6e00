from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin
from taichu.timeutil import utcnow


class AuditRecord(IdMixin, Base):
    """One audited action. `seq` orders the hash chain; `hash` covers the record's fields
    and the previous record's hash, so an edit or a removal breaks the chain; `mac` keys
    `hash` with the installation's secret, so the chain cannot be recomputed without it."""

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    cluster_id: Mapped[str | None] = mapped_column(String(36))
    user: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(36))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(10))
    path: Mapped[str | None] = mapped_column(String(500))
    status_code: Mapped[int | None]
    old_value: Mapped[dict[str, Any] | None]
    new_value: Mapped[dict[str, Any] | None]
    details: Mapped[dict[str, Any] | None]
    result: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # NULL only for records written before the chain was keyed, until they are sealed.
    mac: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_records_timestamp", "timestamp"),
        Index("ix_audit_records_cluster_id_timestamp", "cluster_id", "timestamp"),
        Index("ix_audit_records_user", "user"),
    )
