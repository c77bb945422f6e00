"""Declarative base, column types and mixins shared by every domain's tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Double, Integer, MetaData, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeEngine

from taichu.timeutil import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite drops the zone; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class IdMixin:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- tracked runs --------------------------------------------------------------------------

# Statuses of a tracked run (DESIGN.md: imports, backups, restores, expansions). A domain
# with an extra terminal state (backups: `deleted`) adds it beside these.
PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = (
    "pending",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
)
RUN_ACTIVE = (PENDING, IN_PROGRESS)
RUN_STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True)
class RunColumns:
    """How a table spells the tracked-run columns, so the mixin maps onto tables that
    predate it without a schema change. New tables keep the defaults."""

    status: str = "status"  # column name; the attribute is always `status`
    status_indexed: bool = False
    progress_type: type[TypeEngine[Any]] = Double  # imports store whole percents
    started_at: str = "started_at"  # column name; the attribute is always `started_at`
    started_on_insert: bool = False  # imports: set when the record is created, never null


class TrackedRunMixin:
    """A long-running operation the user sees (import, backup, restore; next: create task,
    expansion, command): `status`, `progress` (0-100), `current_step`, `error_message`,
    `job_id`, `started_at`, `completed_at`, and the one way to move them.

    A new domain's run table::

        class Expansion(IdMixin, TimestampMixin, TrackedRunMixin, Base):
            __tablename__ = "expansions"
            ...  # its own columns only

    and its jobs use `taichu.jobs.tracked`: `report(job, Expansion, id, percent, step)`
    while working, `finish(...)`/`record.end(COMPLETED, ...)` at the end, and
    `track_ends(registry, KIND, Expansion, "expansion_id")` so a failed or cancelled job
    ends its run (in the job's own final transaction)."""

    __run_columns__: ClassVar[RunColumns] = RunColumns()
    # What `current_step` says once the run ended, per status (default: "Failed", ...).
    run_end_steps: ClassVar[dict[str, str]] = {}
    # The error a cancelled run records when the canceller gives no reason.
    run_cancel_message: ClassVar[str] = "cancelled"

    @declared_attr
    def status(cls) -> Mapped[str]:
        spec = cls.__run_columns__
        return mapped_column(spec.status, String(16), default=PENDING, index=spec.status_indexed)

    @declared_attr
    def progress(cls) -> Mapped[float]:
        return mapped_column(cls.__run_columns__.progress_type, default=0)

    @declared_attr
    def current_step(cls) -> Mapped[str]:
        return mapped_column(String(255), default="Queued")

    @declared_attr
    def error_message(cls) -> Mapped[str]:
        return mapped_column(Text, default="")

    @declared_attr
    def job_id(cls) -> Mapped[str | None]:
        return mapped_column(String(36), nullable=True)

    @declared_attr
    def started_at(cls) -> Mapped[datetime | None]:
        spec = cls.__run_columns__
        if spec.started_on_insert:
            return mapped_column(spec.started_at, UTCDateTime(), nullable=False, default=utcnow)
        return mapped_column(spec.started_at, UTCDateTime(), nullable=True)

    @declared_attr
    def completed_at(cls) -> Mapped[datetime | None]:
        return mapped_column(UTCDateTime(), nullable=True)

    @property
    def is_active(self) -> bool:
        return self.status in RUN_ACTIVE

    def _percent(self, value: float) -> float:
        value = max(0.0, min(100.0, float(value)))
        return int(value) if self.__run_columns__.progress_type is Integer else round(value, 1)

    def mark_progress(self, progress: float | None = None, step: str | None = None) -> None:
        """The run is working: `in_progress` (once, with its start time), and where it is.
        A run that already ended keeps its status."""
        if self.status == PENDING or self.status is None:
            self.status = IN_PROGRESS
        if self.started_at is None:
            self.started_at = utcnow()
        if progress is not None:
            self.progress = self._percent(progress)
        if step is not None:
            self.current_step = step[:255]

    def end(
        self,
        status: str,
        *,
        error: str | None = None,
        step: str | None = None,
        progress: float | None = None,
    ) -> bool:
        """End the run (completed, failed or cancelled). Returns False, changing nothing,
        if it had already ended: the first ending wins."""
        if status not in (COMPLETED, FAILED, CANCELLED):
            raise ValueError(f"a run ends completed, failed or cancelled, not {status!r}")
        if not self.is_active:
            return False
        self.status = status
        self.current_step = (step or self.run_end_steps.get(status) or status.capitalize())[:255]
        if status == CANCELLED and error is None:
            error = self.run_cancel_message
        if error is not None:
            self.error_message = error
        if progress is None and status == COMPLETED:
            progress = 100
        if progress is not None:
            self.progress = self._percent(progress)
        self.completed_at = utcnow()
        return True
