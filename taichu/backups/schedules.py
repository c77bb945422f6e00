"""Backup schedules: cron expressions (UTC) that create backups, and the tick that fires
the due ones.

A due schedule fires once however many replicas run the tick: each schedule's
`next_run_at` is advanced by compare-and-set, and only the transaction that advanced it
creates the backup (in the same transaction). A missed run (the platform was down) fires
once, then the schedule continues from now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from croniter import croniter
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.backups.models import BackupSchedule
from taichu.backups.schemas import ScheduleCreate, ScheduleUpdate
from taichu.backups.service import backup_options, new_backup, validate_options
from taichu.clusters.models import Cluster
from taichu.config import Settings
from taichu.errors import Conflict, Invalid, NotFound, TaichuError
from taichu.timeutil import utcnow

DUE_BATCH = 200
_OPTION_FIELDS = (
    "included_namespaces",
    "excluded_namespaces",
    "label_selector",
    "include_cluster_resources",
)


def check_cron(expression: str) -> str:
    expression = " ".join(expression.split())
    macro = expression.startswith("@") and " " not in expression  # @daily, @hourly, ...
    if not (macro or len(expression.split(" ")) == 5) or not croniter.is_valid(expression):
        raise Invalid(
            f"cron_expression: '{expression}' is not a five-field cron expression "
            "(minute hour day-of-month month day-of-week) nor a macro like @daily"
        )
    return expression


def next_run(expression: str, after: datetime) -> datetime:
    return croniter(expression, after).get_next(datetime)


def _snapshot(schedule: BackupSchedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "cron_expression": schedule.cron_expression,
        "backup_type": schedule.backup_type,
        "retention_days": schedule.retention_days,
        "enabled": schedule.enabled,
        **schedule.options,
    }


async def list_schedules(
    session: AsyncSession, cluster_id: str, offset: int, limit: int
) -> tuple[list[BackupSchedule], int]:
    query = select(BackupSchedule).where(BackupSchedule.cluster_id == cluster_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(BackupSchedule.name).offset(offset).limit(limit))
    return list(rows), int(total or 0)


async def get_schedule(session: AsyncSession, cluster_id: str, schedule_id: str) -> BackupSchedule:
    schedule = await session.get(BackupSchedule, schedule_id)
    if schedule is None or schedule.cluster_id != cluster_id:
        raise NotFound(f"backup schedule {schedule_id} of cluster {cluster_id} not found")
    return schedule


async def _flush_unique(session: AsyncSession, name: str, change: Callable[[], None]) -> None:
    """Make `change` and flush it in a savepoint: a concurrent duplicate name is the same
    409. Made inside the savepoint, since opening one flushes what is pending outside it."""
    try:
        async with session.begin_nested():
            change()
            await session.flush()
    except IntegrityError as e:
        raise Conflict(f"name: a backup schedule named '{name}' exists for this cluster") from e


async def create_schedule(
    session: AsyncSession, cluster_id: str, body: ScheduleCreate, created_by: str | None
) -> BackupSchedule:
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound(f"cluster {cluster_id} not found")
    expression = check_cron(body.cron_expression)
    options = backup_options(body)
    validate_options(body.backup_type, options, cluster)
    schedule = BackupSchedule(
        cluster_id=cluster_id,
        name=body.name,
        cron_expression=expression,
        backup_type=body.backup_type,
        options=options,
        retention_days=body.retention_days,
        enabled=body.enabled,
        created_by=created_by,
        next_run_at=next_run(expression, utcnow()) if body.enabled else None,
    )
    await _flush_unique(session, body.name, lambda: session.add(schedule))
    audit.note(
        resource="backup_schedule",
        resource_id=schedule.id,
        cluster_id=cluster_id,
        new_value=_snapshot(schedule),
    )
    return schedule


async def update_schedule(
    session: AsyncSession, cluster_id: str, schedule_id: str, body: ScheduleUpdate
) -> BackupSchedule:
    schedule = await get_schedule(session, cluster_id, schedule_id)
    old = _snapshot(schedule)
    changes = body.model_dump(exclude_unset=True)
    # Checked before any change, so nothing is pending when the savepoint opens.
    backup_type = changes.get("backup_type") or schedule.backup_type
    expression = schedule.cron_expression
    if changes.get("cron_expression") is not None:
        expression = check_cron(changes["cron_expression"])
    options = dict(schedule.options)
    for name in _OPTION_FIELDS:
        if name in changes:
            value = changes[name]
            options[name] = list(value or []) if name.endswith("namespaces") else value
    validate_options(backup_type, options, await session.get(Cluster, cluster_id))

    def change() -> None:
        for name in ("name", "backup_type", "retention_days", "enabled"):
            if changes.get(name) is not None:
                setattr(schedule, name, changes[name])
        schedule.cron_expression, schedule.options = expression, options
        # A new expression or re-enabling counts from now; disabling stops it.
        schedule.next_run_at = next_run(expression, utcnow()) if schedule.enabled else None

    await _flush_unique(session, changes.get("name") or schedule.name, change)
    audit.note(
        resource="backup_schedule",
        resource_id=schedule.id,
        cluster_id=cluster_id,
        old_value=old,
        new_value=_snapshot(schedule),
    )
    return schedule


async def delete_schedule(session: AsyncSession, cluster_id: str, schedule_id: str) -> None:
    schedule = await get_schedule(session, cluster_id, schedule_id)
    audit.note(
        resource="backup_schedule",
        resource_id=schedule.id,
        cluster_id=cluster_id,
        old_value=_snapshot(schedule),
    )
    await session.delete(schedule)
    await session.flush()


async def fire_due(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Create the backups of due schedules; returns how many were created."""
    due = list(
        await session.scalars(
            select(BackupSchedule)
            .where(BackupSchedule.enabled.is_(True), BackupSchedule.next_run_at <= now)
            .order_by(BackupSchedule.next_run_at)
            .limit(DUE_BATCH)
        )
    )
    created = 0
    for schedule in due:
        won = (
            await session.execute(
                update(BackupSchedule)
                .where(
                    BackupSchedule.id == schedule.id,
                    BackupSchedule.next_run_at == schedule.next_run_at,
                )
                .values(next_run_at=next_run(schedule.cron_expression, now), last_run_at=now)
                .returning(BackupSchedule.id)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if won is None:
            continue  # another replica fired it
        values: dict[str, Any]
        try:
            cluster = await session.get(Cluster, schedule.cluster_id)
            if cluster is None:
                raise NotFound("the cluster no longer exists")
            async with session.begin_nested():
                backup = await new_backup(
                    session,
                    settings,
                    cluster,
                    backup_type=schedule.backup_type,
                    name=f"{schedule.name}-{now:%Y%m%d-%H%M%S}",
                    retention_days=schedule.retention_days,
                    options=dict(schedule.options),
                    created_by=schedule.created_by,
                    schedule_id=schedule.id,
                )
            values = {"last_backup_id": backup.id, "last_error": ""}
            created += 1
        except TaichuError as e:
            # E.g. a restore into this cluster is running: this run is skipped, not queued.
            values = {"last_error": f"{now:%Y-%m-%dT%H:%M:%SZ}: run skipped: {e.message}"}
        await session.execute(
            update(BackupSchedule)
            .where(BackupSchedule.id == schedule.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return created
