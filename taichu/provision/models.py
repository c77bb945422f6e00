"""Create tasks (a cluster built from machines), the machines each one uses, its step
journal and its log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin, TimestampMixin, TrackedRunMixin
from taichu.timeutil import utcnow

# Journal row states.
STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED = "pending", "running", "done", "failed"
CLUSTER_WIDE = ""  # machine_id of a journal row of a once-per-cluster step


class CreateTask(IdMixin, TimestampMixin, TrackedRunMixin, Base):
    """A cluster being built from machines. Outlives its cluster (history), so
    `cluster_id` is not a foreign key. Stored `in_progress` is shown `running`."""

    __tablename__ = "create_tasks"
    run_end_steps: ClassVar[dict[str, str]] = {
        "completed": "Cluster created successfully",
        "failed": "Failed",
        "cancelled": "Cancelled",
    }
    run_cancel_message = "cancelled by request"

    cluster_name: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    cluster_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kubernetes_version: Mapped[str] = mapped_column(String(64))
    network_plugin: Mapped[str] = mapped_column(String(64))
    container_runtime: Mapped[str] = mapped_column(String(32), default="containerd")
    artifact_name: Mapped[str] = mapped_column(String(255))
    # The request as accepted (normalised), without secrets: machines are referenced by id.
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Stop at the next step boundary (POST .../cancel of a running task).
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    # How many times the task was started (1 at creation, +1 per retry).
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # The cluster's PKI (CA keys included), encrypted with taichu.crypto; made once, so a
    # retry or a resumed run keeps the certificates already on the machines.
    pki_encrypted: Mapped[str | None] = mapped_column(Text)
    # Next sequence number of the task's log.
    log_seq: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_create_tasks_created_at_id", "created_at", "id"),)


class CreateTaskMachine(Base):
    """A machine of a task, with the role and node name it was given."""

    __tablename__ = "create_task_machines"

    task_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("create_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    machine_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    node_name: Mapped[str] = mapped_column(String(63))
    address: Mapped[str] = mapped_column(String(45))


class CreateTaskStep(IdMixin, Base):
    """The journal: one row per (task, step, machine; "" for a cluster-wide step)."""

    __tablename__ = "create_task_steps"

    task_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("create_tasks.id", ondelete="CASCADE")
    )
    step: Mapped[str] = mapped_column(String(64))
    machine_id: Mapped[str] = mapped_column(String(36), default=CLUSTER_WIDE)
    status: Mapped[str] = mapped_column(String(16), default=STEP_PENDING)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    output: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("task_id", "step", "machine_id"),)


class CreateTaskLog(Base):
    """One line of a task's log; the oldest are dropped past the per-task bound."""

    __tablename__ = "create_task_logs"

    task_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("create_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    host: Mapped[str] = mapped_column(String(100))
    step: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(Text)


# Expansions and node removals use this journal; their tables are declared beside it.
from taichu.provision.expansion_models import ClusterExpansion, NodeRemoval  # noqa: E402

__all__ = [
    "ClusterExpansion",
    "CreateTask",
    "CreateTaskLog",
    "CreateTaskMachine",
    "CreateTaskStep",
    "NodeRemoval",
]
