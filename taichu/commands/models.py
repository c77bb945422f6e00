from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin
from taichu.timeutil import utcnow


class CommandRun(IdMixin, Base):
    """One kubectl command asked for: run (done, failed, timeout) or refused.

    Not a tracked run (TrackedRunMixin): it is answered within its request, and its
    statuses are the runtime contract's, not a job's. The history outlives users and
    clusters (ids, not foreign keys; names kept for display). The command is stored
    redacted; the output, which may hold secrets (`get secret -o yaml`), is encrypted."""

    __tablename__ = "command_runs"

    user_id: Mapped[str] = mapped_column(String(36))
    username: Mapped[str] = mapped_column(String(64))
    cluster_id: Mapped[str] = mapped_column(String(36), index=True)
    cluster_name: Mapped[str | None] = mapped_column(String(100))
    command: Mapped[str] = mapped_column(Text)  # redacted display string
    kind: Mapped[str] = mapped_column(String(8))  # read | change | unknown (refused early)
    identity: Mapped[str | None] = mapped_column(String(255))  # whom it ran as
    status: Mapped[str] = mapped_column(String(16), index=True)
    returncode: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(Text)  # why refused
    has_manifest: Mapped[bool] = mapped_column(default=False)
    timeout_seconds: Mapped[int]
    duration_ms: Mapped[int] = mapped_column(default=0)
    stdout_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # written, kept or not
    stderr_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    truncated: Mapped[bool] = mapped_column(default=False)
    stdout_encrypted: Mapped[str | None] = mapped_column(Text)  # the kept (capped) output
    stderr_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # History pages newest first: everyone's (admins) and one user's.
    __table_args__ = (
        Index("ix_command_runs_created_at_id", "created_at", "id"),
        Index("ix_command_runs_user_created_at", "user_id", "created_at"),
    )
