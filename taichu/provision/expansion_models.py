"""Expansions (machines joined to a created cluster) and node removals: tracked runs whose
steps and per-machine logs live in the journal of the cluster's create task (the
`create_task_steps` / `create_task_logs` rows of that task, step names prefixed with the
run's id), so the engine, the log and the teardown are the create task's own."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin, TimestampMixin, TrackedRunMixin


class ClusterExpansion(IdMixin, TimestampMixin, TrackedRunMixin, Base):
    """One expansion request (spec: 扩展接口). `old_*` are the cluster's live totals when it
    was asked; `new_*` the totals asked for. The machines it joins are members of the
    cluster's create task (`create_task_machines`) while it runs and after it completed."""

    __tablename__ = "cluster_expansions"
    run_end_steps: ClassVar[dict[str, str]] = {
        "completed": "Expansion completed",
        "failed": "Expansion failed",
        "cancelled": "Expansion cancelled",
    }
    run_cancel_message = "cancelled by request"
    run_label: ClassVar[str] = "expansion"

    cluster_id: Mapped[str] = mapped_column(String(36), index=True)
    # The create task whose journal, log and machine list the expansion uses.
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    old_node_count: Mapped[int] = mapped_column(Integer)
    new_node_count: Mapped[int] = mapped_column(Integer)
    old_cpu_cores: Mapped[int] = mapped_column(Integer)
    new_cpu_cores: Mapped[int] = mapped_column(Integer)
    old_memory_gb: Mapped[int] = mapped_column(Integer)
    new_memory_gb: Mapped[int] = mapped_column(Integer)
    old_storage_gb: Mapped[int] = mapped_column(Integer)
    new_storage_gb: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The joining machines, in order: [{"machine_id", "node_name", "address"}].
    machines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    picked: Mapped[bool] = mapped_column(Boolean, default=False)  # chosen by the platform
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    requested_by: Mapped[str | None] = mapped_column(String(64))
    requested_by_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_cluster_expansions_cluster_created", "cluster_id", "created_at"),)


class NodeRemoval(IdMixin, TimestampMixin, TrackedRunMixin, Base):
    """`DELETE /clusters/{id}/nodes/{nodeName}`: cordon, drain, delete the Node, clean the
    machine and release it."""

    __tablename__ = "cluster_node_removals"
    run_end_steps: ClassVar[dict[str, str]] = {
        "completed": "Node removed",
        "failed": "Node removal failed",
        "cancelled": "Node removal cancelled",
    }
    run_label: ClassVar[str] = "node removal"

    cluster_id: Mapped[str] = mapped_column(String(36), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    node_name: Mapped[str] = mapped_column(String(63))
    machine_id: Mapped[str] = mapped_column(String(36))
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    drain_timeout_seconds: Mapped[float] = mapped_column(Float)
    # What the drain did: {"evicted": [...], "deleted": [...], "skipped": [...]}.
    drained: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requested_by: Mapped[str | None] = mapped_column(String(64))
