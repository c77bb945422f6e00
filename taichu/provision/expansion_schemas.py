"""Request and response models of expansions and node removals (spec: 扩展接口, 扩展状态)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from taichu.api.schemas import InModel, OutModel
from taichu.provision.planned import PlannedStep
from taichu.provision.schemas import MAX_MACHINES, TaskStepOut

MAX_TOTAL = 10**7  # far above any cluster's cores or GiB: a bound, not a policy


class ExpansionIn(InModel):
    new_node_count: int = Field(ge=1, le=100000, description="Nodes the cluster should have.")
    new_cpu_cores: int = Field(0, ge=0, le=MAX_TOTAL, description="CPU cores it should have.")
    new_memory_gb: int = Field(0, ge=0, le=MAX_TOTAL, description="GiB of memory it should have.")
    new_storage_gb: int = Field(
        0, ge=0, le=MAX_TOTAL, description="GiB of node storage it should have."
    )
    reason: str = Field("", max_length=1000)
    machine_ids: list[str] | None = Field(
        None,
        max_length=MAX_MACHINES,
        description="The machines to join (available workers); without it the platform "
        "picks available workers whose facts reach the totals.",
    )


class ExpansionOut(OutModel):
    """Exactly the spec's record."""

    id: str
    cluster_id: str
    old_node_count: int
    new_node_count: int
    old_cpu_cores: int
    new_cpu_cores: int
    old_memory_gb: int
    new_memory_gb: int
    old_storage_gb: int
    new_storage_gb: int
    status: str = Field(description="pending | in_progress | completed | failed | cancelled")
    reason: str
    requested_by: str | None
    created_at: datetime


class ExpansionMachineOut(BaseModel):
    machine_id: str
    node_name: str
    address: str


class ExpansionDetail(ExpansionOut):
    """The record and how its run goes: steps (the journal, per machine) and its log."""

    progress: int
    current_step: str
    error_msg: str
    started_at: datetime | None
    completed_at: datetime | None
    machines: list[ExpansionMachineOut] = Field(default_factory=list)
    steps: list[TaskStepOut] = Field(default_factory=list)
    planned_steps: list[PlannedStep] = Field(
        default_factory=list, description="Every step the expansion runs, in order."
    )
    logs: str = Field("", description="The newest log lines: `<time> [<host>] <step>: <line>`.")

    @field_validator("progress", mode="before")
    @classmethod
    def _progress(cls, value: float) -> int:
        return int(value or 0)


class ExpansionHistory(BaseModel):
    expansions: list[ExpansionOut]


class NodeRemovalOut(OutModel):
    id: str
    cluster_id: str
    node_name: str
    machine_id: str
    force: bool
    drain_timeout_seconds: float
    status: str = Field(description="pending | in_progress | completed | failed")
    progress: int
    current_step: str
    error_msg: str
    drained: dict[str, Any] = Field(
        default_factory=dict,
        description="Pods evicted, deleted (force) and skipped (DaemonSet, mirror); "
        "node_deleted once the Node is gone.",
    )
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    steps: list[TaskStepOut] = Field(default_factory=list)
    logs: str = ""

    @field_validator("progress", mode="before")
    @classmethod
    def _progress(cls, value: float) -> int:
        return int(value or 0)
