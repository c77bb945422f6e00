from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, synonym

from taichu.db.base import Base, IdMixin, RunColumns, TimestampMixin, TrackedRunMixin
from taichu.timeutil import utcnow

CLUSTER_STATUSES = (
    "unknown",
    "pending",
    "healthy",
    "unhealthy",
    "disconnected",
    "error",
    "maintenance",
)


# clusters.source of a cluster the platform built (on machines of the inventory).
SOURCE_CREATED = "created"


class Cluster(IdMixin, TimestampMixin, Base):
    __tablename__ = "clusters"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="unknown", index=True)
    provider: Mapped[str] = mapped_column(String(64), default="太初")
    region: Mapped[str] = mapped_column(String(64), default="default")
    environment_type: Mapped[str] = mapped_column(String(32), default="default")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How the cluster was added: manual (kubeconfig), import, runtime (address + tokens).
    source: Mapped[str] = mapped_column(String(16), default="manual")
    api_server_url: Mapped[str] = mapped_column(String(500))
    # Further API servers of the same cluster, tried in order when api_server_url cannot
    # be connected to (a created HA cluster: its other masters); None: just the one.
    fallback_api_servers: Mapped[list[str] | None] = mapped_column(JSON)
    # Encrypted kubeconfig (manual/import) or encrypted CA bundle (runtime); never returned.
    kubeconfig_encrypted: Mapped[str | None] = mapped_column(Text)
    ca_data_encrypted: Mapped[str | None] = mapped_column(Text)
    insecure_skip_tls_verify: Mapped[bool] = mapped_column(default=False)
    version: Mapped[str | None] = mapped_column(String(64))
    node_count: Mapped[int] = mapped_column(default=0)
    ready_node_count: Mapped[int] = mapped_column(default=0)
    total_cpu_cores: Mapped[float] = mapped_column(default=0.0)
    total_memory_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    total_storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    used_storage_bytes: Mapped[int | None] = mapped_column(BigInteger)
    last_heartbeat_at: Mapped[datetime | None]
    last_probe_error: Mapped[str | None] = mapped_column(Text)
    # When the probe whose outcome is recorded started: an older probe finishing later
    # (a slow shard) must not overwrite it (taichu.jobs.monitor.is_newer).
    last_probe_started_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(64))  # username, for display
    # Who may manage it (with admins). An id, not the name: a deleted user's name can be
    # registered again by someone else. Not a foreign key (see migration 0005): ids are
    # never reused, so a deleted user's id matches nobody and only admins manage it then.
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # Registered by an admin: any user may bind a Kubernetes account to it. A user's own
    # registration is theirs alone: a token bound to it goes to a server that user chose.
    shared: Mapped[bool] = mapped_column(default=False, server_default=false())

    # Lists page in creation order: without this index every page sorts the whole table.
    __table_args__ = (Index("ix_clusters_created_at_id", "created_at", "id"),)

    @property
    def storage_usage_percent(self) -> float | None:
        if self.used_storage_bytes is None or not self.total_storage_bytes:
            return None
        return round(100.0 * self.used_storage_bytes / self.total_storage_bytes, 1)


class ClusterImport(IdMixin, TimestampMixin, TrackedRunMixin, Base):
    """Import history outlives its cluster (a failed import removes the cluster), so
    `cluster_id` is not a foreign key. A tracked run whose status column is spelled
    `import_status` and whose start time is `imported_at` (the API's names)."""

    __tablename__ = "cluster_imports"
    __run_columns__ = RunColumns(
        status="import_status",
        status_indexed=True,
        progress_type=Integer,
        started_at="imported_at",
        started_on_insert=True,
    )
    run_end_steps: ClassVar[dict[str, str]] = {
        "completed": "Import completed successfully",
        "failed": "Import failed",
        "cancelled": "Import cancelled",
    }
    run_cancel_message = "cancelled by request"

    cluster_id: Mapped[str] = mapped_column(String(36), index=True)
    import_source: Mapped[str] = mapped_column(String(32), default="manual")
    validation_results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_resources: Mapped[dict[str, Any] | None]
    imported_by: Mapped[str | None] = mapped_column(String(64))
    imported_by_id: Mapped[str | None] = mapped_column(String(36), index=True)  # its owner
    import_status = synonym("status")
    imported_at = synonym("started_at")


class PlatformEvent(IdMixin, Base):
    """Something the platform itself observed about a cluster (status changes, imports)."""

    __tablename__ = "platform_events"

    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    component: Mapped[str] = mapped_column(String(64), default="taichu")
    message: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(default=1)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_platform_events_cluster_last_seen", "cluster_id", "last_seen"),)


class AutoscalingSettings(TimestampMixin, Base):
    """Thresholds and node bounds the operator sets for a cluster."""

    __tablename__ = "cluster_autoscaling_settings"

    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(default=False)
    min_nodes: Mapped[int | None]
    max_nodes: Mapped[int | None]
    scale_up_threshold: Mapped[int | None]
    scale_down_threshold: Mapped[int | None]


class K8sAccountBinding(IdMixin, TimestampMixin, Base):
    """A user's own service-account token for a cluster (encrypted): runtime reads for
    that user run as that identity, so the cluster's RBAC applies."""

    __tablename__ = "k8s_account_bindings"

    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.id", ondelete="CASCADE")
    )
    namespace: Mapped[str] = mapped_column(String(253), default="default")
    token_encrypted: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("user_id", "cluster_id"),)
