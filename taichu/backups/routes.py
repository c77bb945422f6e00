"""Backup, restore and schedule endpoints of `/api/v1` (under `/clusters/{id}`).

Reading is open to every signed-in user; creating, restoring, deleting and scheduling is
for an admin or the user who added the cluster (a backup holds the cluster's Secrets, a
restore writes into the target cluster)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.api.deps import Ctx, CurrentUser, Session
from taichu.api.envelope import Envelope, MessageData, PageParams, ok, page_params
from taichu.auth.principal import Principal
from taichu.backups import schedules, service
from taichu.backups.models import ACTIVE, BACKUP_STATUSES, Backup, Restore
from taichu.backups.schemas import (
    BackupCreate,
    BackupDetail,
    BackupList,
    BackupOut,
    CancelRequest,
    RestoreCreate,
    RestoreList,
    RestoreStatus,
    ScheduleCreate,
    ScheduleList,
    ScheduleOut,
    ScheduleUpdate,
)
from taichu.clusters.models import Cluster
from taichu.clusters.service import ensure_may_manage, managed_cluster
from taichu.errors import Invalid
from taichu.timeutil import rfc3339, utcnow

router = APIRouter(prefix="/api/v1", tags=["backups"])


async def _managed(session: AsyncSession, principal: Principal, cluster_id: str) -> Cluster | None:
    """The cluster (None: deleted, its backups kept), if the caller may manage it; backups
    of a deleted cluster are the admins' alone."""
    cluster = await service.cluster_or_history(session, cluster_id)
    ensure_may_manage(principal, cluster)
    return cluster


def _cancel_reason(body: CancelRequest | None) -> str:
    return f"cancelled: {body.reason}" if body and body.reason else "cancelled"


def _backup(backup: Backup) -> dict[str, Any]:
    return BackupDetail.model_validate(backup).model_dump(mode="json")


def _estimated_seconds(restore: Restore) -> int | None:
    if restore.status not in ACTIVE:
        return 0
    if restore.started_at is None or restore.items_done <= 0:
        return None
    elapsed = (utcnow() - restore.started_at).total_seconds()
    left = max(restore.items_total - restore.items_done, 0)
    return round(elapsed / restore.items_done * left)


def _restore(restore: Restore) -> dict[str, Any]:
    return RestoreStatus(
        restore_id=restore.id,
        restore_name=restore.restore_name,
        backup_id=restore.backup_id,
        source_cluster_id=restore.source_cluster_id,
        target_cluster_id=restore.target_cluster_id,
        status=restore.status,
        progress=round(restore.progress, 1),
        current_step=restore.current_step,
        start_time=rfc3339(restore.started_at),
        estimated_time=_estimated_seconds(restore),
        completed_at=rfc3339(restore.completed_at),
        dry_run=restore.dry_run,
        options=restore.options,
        items_total=restore.items_total,
        items_done=restore.items_done,
        counts=restore.counts,
        errors=[
            {k: e.get(k) for k in ("kind", "namespace", "name", "error")} for e in restore.errors
        ],
        error_message=restore.error_message,
        created_at=rfc3339(restore.created_at) or "",
    ).model_dump(mode="json")


# --- backups -----------------------------------------------------------------------------


@router.post("/clusters/{id}/backups", response_model=Envelope[BackupDetail])
async def create_backup(
    id: str, body: BackupCreate, principal: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    await managed_cluster(session, principal, id)
    backup = await service.create_backup(session, ctx.settings, id, body, principal.username)
    return ok(_backup(backup))


@router.get("/clusters/{id}/backups", response_model=Envelope[BackupList])
async def list_backups(
    id: str,
    principal: CurrentUser,
    session: Session,
    paging: PageParams = Depends(page_params),
    status: str | None = Query(None, description="|".join(BACKUP_STATUSES)),
) -> dict[str, object]:
    if status and status not in BACKUP_STATUSES:
        raise Invalid(f"status: must be one of {', '.join(BACKUP_STATUSES)}")
    await _managed(session, principal, id)
    rows, total = await service.list_backups(session, id, status, paging.offset, paging.limit)
    return ok(
        {
            "backups": [BackupOut.model_validate(b).model_dump(mode="json") for b in rows],
            "total": total,
            "page": paging.page,
            "limit": paging.limit,
        }
    )


@router.get("/clusters/{id}/backups/{backupId}", response_model=Envelope[BackupDetail])
async def get_backup(
    id: str, backupId: str, principal: CurrentUser, session: Session
) -> dict[str, object]:
    await _managed(session, principal, id)
    return ok(_backup(await service.get_backup(session, id, backupId)))


@router.delete("/clusters/{id}/backups/{backupId}", response_model=Envelope[BackupDetail])
async def delete_backup(
    id: str, backupId: str, principal: CurrentUser, session: Session
) -> dict[str, object]:
    await _managed(session, principal, id)
    return ok(_backup(await service.delete_backup(session, id, backupId)))


@router.post("/clusters/{id}/backups/{backupId}/cancel", response_model=Envelope[BackupDetail])
async def cancel_backup(
    id: str,
    backupId: str,
    principal: CurrentUser,
    session: Session,
    body: CancelRequest | None = None,
) -> dict[str, object]:
    """Cancel a pending or running backup (a running one stops at its next progress
    report and leaves no archive)."""
    await _managed(session, principal, id)
    backup = await service.get_backup(session, id, backupId)
    await service.cancel(session, backup, _cancel_reason(body))
    return ok(_backup(backup))


# --- restores ----------------------------------------------------------------------------


@router.post("/clusters/{id}/backups/{backupId}/restore", response_model=Envelope[RestoreStatus])
async def create_restore(
    id: str, backupId: str, body: RestoreCreate, principal: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    await _managed(session, principal, id)
    if body.target_cluster_id and body.target_cluster_id != id:
        # A body field: a missing target is the service's 422, not a 404 of the path.
        ensure_may_manage(principal, await session.get(Cluster, body.target_cluster_id))
    restore = await service.create_restore(
        session, ctx.settings, id, backupId, body, principal.username
    )
    return ok(_restore(restore))


@router.get("/clusters/{id}/backups/{backupId}/restores", response_model=Envelope[RestoreList])
async def list_restores(
    id: str,
    backupId: str,
    principal: CurrentUser,
    session: Session,
    paging: PageParams = Depends(page_params),
) -> dict[str, object]:
    await _managed(session, principal, id)
    await service.get_backup(session, id, backupId)
    rows, total = await service.list_restores(session, backupId, paging.offset, paging.limit)
    return ok(
        {
            "restores": [_restore(r) for r in rows],
            "total": total,
            "page": paging.page,
            "limit": paging.limit,
        }
    )


@router.get(
    "/clusters/{id}/backups/{backupId}/restore/{restoreId}", response_model=Envelope[RestoreStatus]
)
async def get_restore(
    id: str, backupId: str, restoreId: str, principal: CurrentUser, session: Session
) -> dict[str, object]:
    await _managed(session, principal, id)
    return ok(_restore(await service.get_restore(session, id, backupId, restoreId)))


@router.post(
    "/clusters/{id}/backups/{backupId}/restore/{restoreId}/cancel",
    response_model=Envelope[RestoreStatus],
)
async def cancel_restore(
    id: str,
    backupId: str,
    restoreId: str,
    principal: CurrentUser,
    session: Session,
    body: CancelRequest | None = None,
) -> dict[str, object]:
    """Cancel a pending or running restore; what it created so far stays."""
    await _managed(session, principal, id)
    restore = await service.get_restore(session, id, backupId, restoreId)
    await service.cancel(session, restore, _cancel_reason(body))
    return ok(_restore(restore))


# --- schedules ---------------------------------------------------------------------------


def _schedule(schedule: Any) -> dict[str, Any]:
    return ScheduleOut.model_validate(schedule).model_dump(mode="json")


@router.get("/clusters/{id}/backup-schedules", response_model=Envelope[ScheduleList])
async def list_schedules(
    id: str, principal: CurrentUser, session: Session, paging: PageParams = Depends(page_params)
) -> dict[str, object]:
    await _managed(session, principal, id)
    rows, total = await schedules.list_schedules(session, id, paging.offset, paging.limit)
    return ok(
        {
            "schedules": [_schedule(s) for s in rows],
            "total": total,
            "page": paging.page,
            "limit": paging.limit,
        }
    )


@router.post("/clusters/{id}/backup-schedules", response_model=Envelope[ScheduleOut])
async def create_schedule(
    id: str, body: ScheduleCreate, principal: CurrentUser, session: Session
) -> dict[str, object]:
    await managed_cluster(session, principal, id)
    return ok(_schedule(await schedules.create_schedule(session, id, body, principal.username)))


@router.get("/clusters/{id}/backup-schedules/{scheduleId}", response_model=Envelope[ScheduleOut])
async def get_schedule(
    id: str, scheduleId: str, principal: CurrentUser, session: Session
) -> dict[str, object]:
    await _managed(session, principal, id)
    return ok(_schedule(await schedules.get_schedule(session, id, scheduleId)))


@router.put("/clusters/{id}/backup-schedules/{scheduleId}", response_model=Envelope[ScheduleOut])
async def update_schedule(
    id: str, scheduleId: str, body: ScheduleUpdate, principal: CurrentUser, session: Session
) -> dict[str, object]:
    await managed_cluster(session, principal, id)
    return ok(_schedule(await schedules.update_schedule(session, id, scheduleId, body)))


@router.delete("/clusters/{id}/backup-schedules/{scheduleId}", response_model=Envelope[MessageData])
async def delete_schedule(
    id: str, scheduleId: str, principal: CurrentUser, session: Session
) -> dict[str, object]:
    await managed_cluster(session, principal, id)
    await schedules.delete_schedule(session, id, scheduleId)
    return ok({"message": "Backup schedule deleted"})
