"""Backups, restores and backup schedules.

Backups and restores keep their cluster ids as plain columns, not foreign keys: a backup
outlives its cluster (losing the whole cluster is what it is for), and its restores are
its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    PENDING,
    RUN_ACTIVE,
    Base,
    IdMixin,
    TimestampMixin,
    TrackedRunMixin,
)

# Record states: a tracked run's, and `deleted` (the engine's job states are spelled
# differently, see taichu.jobs.models).
DELETED = "deleted"
ACTIVE = RUN_ACTIVE
BACKUP_STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED, DELETED)
RESTORE_STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
BACKUP_TYPES = ("full", "namespaces", "etcd")


class Backup(IdMixin, TimestampMixin, TrackedRunMixin, Base):
    __tablename__ = "backups"

    cluster_id: Mapped[str] = mapped_column(String(36))
    cluster_name: Mapped[str] = mapped_column(String(100), default="")
    backup_name: Mapped[str] = mapped_column(String(253))
    backup_type: Mapped[str] = mapped_column(String(16))
    retention_days: Mapped[int] = mapped_column(default=30)
    # included/excluded namespaces, label selector, include_cluster_resources.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where the archive is: the backend it was written to and its key there. A later
    # change of the configured backend does not orphan older archives.
    storage_backend: Mapped[str] = mapped_column(String(16), default="local")
    storage_key: Mapped[str] = mapped_column(String(500), default="")
    storage_location: Mapped[str] = mapped_column(String(1000), default="")
    storage_size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    kubernetes_version: Mapped[str | None] = mapped_column(String(64))
    snapshot_timestamp: Mapped[datetime | None]
    items_total: Mapped[int] = mapped_column(default=0)
    items_done: Mapped[int] = mapped_column(default=0)
    # Objects per resource type ("apps/v1/deployments": 12).
    resource_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the backup could not include (e.g. an API group whose APIService is down).
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    schedule_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_backups_cluster_created", "cluster_id", "created_at"),
        Index("ix_backups_status_expires", "status", "expires_at"),
    )


class Restore(IdMixin, TimestampMixin, TrackedRunMixin, Base):
    __tablename__ = "restores"

    backup_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("backups.id", ondelete="CASCADE"), index=True
    )
    source_cluster_id: Mapped[str] = mapped_column(String(36))
    target_cluster_id: Mapped[str] = mapped_column(String(36), index=True)
    restore_name: Mapped[str] = mapped_column(String(253))
    # namespace_mapping, included_namespaces, existing_policy, dry_run.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dry_run: Mapped[bool] = mapped_column(default=False)
    items_total: Mapped[int] = mapped_column(default=0)
    items_done: Mapped[int] = mapped_column(default=0)
    # Per kind: {"Deployment": {"created": 1, "updated": 0, "skipped": 0, "failed": 0}}.
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What a resumed run skips: the archive parts already applied (their counts are in
    # `counts`), and how many times the restore was (re)started.
    checkpoint: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(64))


class BackupSchedule(IdMixin, TimestampMixin, Base):
    __tablename__ = "backup_schedules"

    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    cron_expression: Mapped[str] = mapped_column(String(120))
    backup_type: Mapped[str] = mapped_column(String(16), default="full")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retention_days: Mapped[int] = mapped_column(default=30)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_run_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None]
    last_backup_id: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("cluster_id", "name"),
        Index("ix_backup_schedules_due", "enabled", "next_run_at"),
    )
