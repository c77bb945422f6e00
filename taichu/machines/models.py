"""The machine inventory: servers the platform reaches over SSH, and what it saw there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin, TimestampMixin
from taichu.timeutil import utcnow

# The status table's spelling (DESIGN.md); `in-use` is accepted on input.
MACHINE_STATUSES = (
    "available",
    "in_use",
    "deploying",
    "maintenance",
    "unavailable",
    "offline",
    "error",
)
ROLES = ("master", "worker", "etcd", "registry")
# What an operator may set (PUT /machines/{id}/status, per the spec).
OPERATOR_STATUSES = ("available", "unavailable", "maintenance", "error")
# Statuses a check never changes: an operator's (maintenance: parked; error: needs a
# human) or the cluster lifecycle's (in_use, deploying); also `unavailable` when an
# operator set it (see `kept_by_checks`). A check still records whether the machine
# answered (`reachable`, `check_error`) and its facts.
KEPT_BY_CHECKS = ("maintenance", "error", "in_use", "deploying")
# Machines the reachability monitor leaves alone (an operator is working on them).
NOT_MONITORED = ("maintenance",)
# A machine a cluster uses or is being built on cannot be deleted or re-statused here.
BUSY = ("in_use", "deploying")
HOST_KEY_SOURCES = ("given", "first_use")


class Machine(IdMixin, TimestampMixin, Base):
    __tablename__ = "machines"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Normalised (ipaddress) so one address has one spelling: the unique constraint is
    # what makes a duplicate a 409 even when two creates race.
    ip_address: Mapped[str] = mapped_column(String(45), unique=True)
    internal_address: Mapped[str] = mapped_column(String(45))
    port: Mapped[int] = mapped_column(Integer, default=22)
    user: Mapped[str] = mapped_column(String(32), default="root")
    # Privileged commands go through sudo (the user is not root).
    become: Mapped[bool] = mapped_column(default=False)
    role: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), default="unavailable", index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    # Who set the status: "check" (the platform's checks) or "operator" (PUT .../status).
    status_source: Mapped[str] = mapped_column(String(16), default="check")
    artifact_path: Mapped[str] = mapped_column(String(500), default="")
    image_repo: Mapped[str] = mapped_column(String(500), default="")
    registry_address: Mapped[str] = mapped_column(String(500), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Credentials, encrypted at rest (taichu.crypto.SecretBox); never returned or logged.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    private_key_encrypted: Mapped[str | None] = mapped_column(Text)
    passphrase_encrypted: Mapped[str | None] = mapped_column(Text)
    # The pinned host key ("type base64"): given by an operator, or recorded at the first
    # successful connection (trust on first use). A different key is refused.
    host_key: Mapped[str | None] = mapped_column(Text)
    host_key_source: Mapped[str | None] = mapped_column(String(16))
    # What the last successful check saw (taichu.machines.facts.MachineFacts.to_json).
    facts: Mapped[dict[str, Any] | None]
    # Outcome of the last check, whatever the status: None until the first one.
    reachable: Mapped[bool | None]
    check_reason: Mapped[str | None] = mapped_column(String(32))  # SshError.reason
    check_error: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None]
    # When the check whose outcome is recorded started: an older check finishing later
    # (a slow shard) must not overwrite it (taichu.jobs.monitor.is_newer).
    last_check_started_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_machines_created_at_id", "created_at", "id"),)


class MachineEvent(IdMixin, Base):
    """Something the platform observed about a machine (status and reachability changes,
    host keys pinned). Cluster events (`platform_events`) belong to a cluster; these
    outlive no machine."""

    __tablename__ = "machine_events"

    machine_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("machines.id", ondelete="CASCADE")
    )
    reason: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    component: Mapped[str] = mapped_column(String(64), default="taichu")
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_machine_events_machine_created", "machine_id", "created_at"),)


def kept_by_checks(machine: Machine) -> bool:
    """Does a check leave this machine's status alone? An operator's `unavailable` (the
    machine may answer and still be faulty) stays until an operator sets `available`;
    the checks' own `unavailable` clears when the machine answers again."""
    if machine.status in KEPT_BY_CHECKS:
        return True
    return machine.status == "unavailable" and machine.status_source == "operator"
