"""Request and response models of backups, restores and schedules (`/api/v1`)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from taichu.api.schemas import InModel, OutModel

# RFC 1123 label: what Kubernetes accepts as a namespace name.
_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_LABEL = re.compile(_LABEL_PATTERN)
Namespace = Annotated[str, StringConstraints(pattern=_LABEL_PATTERN)]
NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$"
RETENTION = Field(
    30, ge=0, le=36500, description="Days the backup is kept; 0 keeps it until it is deleted."
)


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("lists a namespace twice")
    return values


NamespaceList = Annotated[list[Namespace], Field(max_length=1000), AfterValidator(_unique)]


def _mapping(value: dict[str, str]) -> dict[str, str]:
    for source, target in value.items():
        if not _LABEL.match(source) or not _LABEL.match(target):
            raise ValueError(f"'{source}' -> '{target}' is not a pair of namespace names")
    if len(set(value.values())) != len(value):
        raise ValueError("maps two namespaces onto one")
    return value


class BackupOptions(InModel):
    included_namespaces: NamespaceList | None = Field(
        None, description="Only these namespaces (required for backup_type `namespaces`)."
    )
    excluded_namespaces: NamespaceList | None = Field(None, description="Leave these out.")
    label_selector: str | None = Field(
        None,
        max_length=2000,
        description="Only objects with matching labels "
        "(namespaces and CRDs are kept whatever their labels).",
    )
    include_cluster_resources: bool | None = Field(
        None,
        description="Back up cluster-scoped objects. Default: all of them for `full`; "
        "for `namespaces` only those the namespaces need (their CRDs and bound volumes).",
    )


class BackupCreate(BackupOptions):
    backup_name: str = Field(pattern=NAME_PATTERN, description="1-253 of A-Z a-z 0-9 _ . -")
    backup_type: Literal["full", "namespaces", "etcd"] = Field(
        description="`full`: everything; `namespaces`: the given namespaces; `etcd`: an etcd "
        "snapshot (clusters reached over SSH only)."
    )
    retention_days: int = RETENTION


class BackupOut(OutModel):
    id: str
    cluster_id: str
    backup_name: str
    backup_type: str
    status: str
    storage_location: str
    storage_size_bytes: int
    snapshot_timestamp: datetime | None
    created_at: datetime
    completed_at: datetime | None


class BackupDetail(BackupOut):
    cluster_name: str
    progress: float
    current_step: str
    error_message: str
    retention_days: int
    expires_at: datetime | None
    options: dict[str, Any]
    storage_backend: str
    archive_sha256: str | None
    kubernetes_version: str | None
    items_total: int
    items_done: int
    resource_counts: dict[str, Any]
    warnings: list[str]
    schedule_id: str | None
    created_by: str | None
    started_at: datetime | None
    deleted_at: datetime | None


class BackupList(BaseModel):
    backups: list[BackupOut]
    total: int
    page: int
    limit: int


class RestoreCreate(InModel):
    restore_name: str = Field(pattern=NAME_PATTERN, description="1-253 of A-Z a-z 0-9 _ . -")
    target_cluster_id: str | None = Field(
        None, max_length=36, description="Cluster to restore into; default: the backup's."
    )
    namespace_mapping: Annotated[dict[str, str], AfterValidator(_mapping)] = Field(
        default_factory=dict, description="Source namespace -> target namespace."
    )
    included_namespaces: NamespaceList | None = Field(
        None, description="Only these namespaces of the backup (source names)."
    )
    existing_policy: Literal["skip", "update"] = Field(
        "skip",
        description="An object that exists already: `skip` leaves it alone, "
        "`update` patches it to the backup's version.",
    )
    dry_run: bool = Field(False, description="Report what would be done; change nothing.")


class CancelRequest(InModel):
    reason: str = Field("", max_length=500, description="Why (kept on the record).")


class RestoreError(BaseModel):
    kind: str
    namespace: str | None
    name: str | None
    error: str


class RestoreStatus(BaseModel):
    restore_id: str
    restore_name: str
    backup_id: str
    source_cluster_id: str
    target_cluster_id: str
    status: str
    progress: float
    current_step: str
    start_time: str | None
    estimated_time: int | None = Field(description="Seconds left (estimate); 0 when done.")
    completed_at: str | None
    dry_run: bool
    options: dict[str, Any]
    items_total: int
    items_done: int
    counts: dict[str, dict[str, int]] = Field(
        description="Per kind: restored (= created + updated), created, updated, skipped, "
        "failed. In a dry run: what would be done."
    )
    errors: list[RestoreError]
    error_message: str
    created_at: str


class RestoreList(BaseModel):
    restores: list[RestoreStatus]
    total: int
    page: int
    limit: int


class ScheduleCreate(BackupOptions):
    name: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,98}[A-Za-z0-9])?$")
    cron_expression: str = Field(
        min_length=1, max_length=120, description="Five-field cron, in UTC (`0 2 * * *`)."
    )
    backup_type: Literal["full", "namespaces", "etcd"] = "full"
    retention_days: int = RETENTION
    enabled: bool = True


class ScheduleUpdate(InModel):
    """Every field optional: what is sent is changed."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,98}[A-Za-z0-9])?$")
    cron_expression: str | None = Field(None, min_length=1, max_length=120)
    backup_type: Literal["full", "namespaces", "etcd"] | None = None
    retention_days: int | None = Field(None, ge=0, le=36500)
    enabled: bool | None = None
    included_namespaces: NamespaceList | None = None
    excluded_namespaces: NamespaceList | None = None
    label_selector: str | None = Field(None, max_length=2000)
    include_cluster_resources: bool | None = None


class ScheduleOut(OutModel):
    id: str
    cluster_id: str
    name: str
    cron_expression: str
    backup_type: str
    options: dict[str, Any]
    retention_days: int
    enabled: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    last_backup_id: str | None
    last_error: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]
    total: int
    page: int
    limit: int
