from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin, TimestampMixin
from taichu.timeutil import utcnow

# Engine states of a job. Domain records (imports, backups...) keep their own spelling.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
ACTIVE_STATES = (QUEUED, RUNNING)
ALL_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)


class Job(IdMixin, TimestampMixin, Base):
    __tablename__ = "jobs"

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    # At most one active (queued or running) job per key: periodic work per entity.
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None]
    progress: Mapped[float] = mapped_column(default=0.0)
    step: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_jobs_claim", "status", "run_at"),
        Index(
            "uq_jobs_active_dedup_key",
            "dedup_key",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running') AND dedup_key IS NOT NULL"),
            postgresql_where=text("status IN ('queued', 'running') AND dedup_key IS NOT NULL"),
        ),
    )


class PeriodicTick(Base):
    """When a periodic task is next due; the replica that advances it runs the tick."""

    __tablename__ = "periodic_ticks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    last_runner: Mapped[str | None] = mapped_column(String(64))
