"""Request and response models of creating clusters from machines (spec: 通过机器创建集群,
创建任务接口)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from taichu.api.schemas import InModel, OutModel
from taichu.clusters.schemas import NAME_PATTERN, EnvironmentType, LabelMap
from taichu.db.base import IN_PROGRESS
from taichu.provision.planned import PlannedStep

MAX_MACHINES = 200
TASK_STATUSES = ("pending", "running", "completed", "failed", "cancelled")


class KubernetesIn(InModel):
    version: str = Field("", max_length=64, description="Default: the bundle's version.")
    image_repo: str = Field("", max_length=500, description="Registry prefix of images.")
    container_manager: str = Field(
        "", max_length=32, description="Container runtime: containerd (the default)."
    )


class NetworkIn(InModel):
    plugin: str = Field("", max_length=64, description="Default: the bundle's first plugin.")
    pods_cidr: str = Field("", max_length=43, description="Default 10.244.0.0/16.")
    service_cidr: str = Field("", max_length=43, description="Default 10.96.0.0/12.")


class CreateClusterIn(InModel):
    cluster_name: str = Field(pattern=NAME_PATTERN, description="1-100 of A-Z a-z 0-9 _ . -")
    description: str = Field("", max_length=1000)
    machine_ids: list[str] = Field(max_length=MAX_MACHINES, description="Machines to use.")
    kubernetes: KubernetesIn = Field(default_factory=KubernetesIn)
    network: NetworkIn = Field(default_factory=NetworkIn)
    artifact_path: str = Field(
        "",
        max_length=255,
        description="A bundle in the artifact directory (default: the only one).",
    )
    with_packages: bool = Field(
        False, description="Install missing OS packages with the machine's package manager."
    )
    auto_approve: bool = Field(True, description="Accepted for compatibility; always on.")
    labels: LabelMap = Field(default_factory=dict)
    environment_type: EnvironmentType = "default"


def _shown_status(value: str) -> str:
    # Stored as the tracked-run spelling; the create-task contract says `running`.
    return "running" if value == IN_PROGRESS else value


class CreateTaskCreated(OutModel):
    id: str
    cluster_name: str
    cluster_id: str | None
    status: str
    progress: int
    current_step: str
    created_at: datetime

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: str) -> str:
        return _shown_status(value)

    @field_validator("progress", mode="before")
    @classmethod
    def _progress(cls, value: float) -> int:
        return int(value or 0)


class CreateTaskSummary(CreateTaskCreated):
    kubernetes_version: str
    network_plugin: str
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime


class TaskMachineOut(BaseModel):
    machine_id: str
    role: str
    node_name: str
    address: str


class TaskStepOut(OutModel):
    step: str
    machine_id: str = Field(description='"" for a step run once for the cluster.')
    status: str = Field(description="pending | running | done | failed")
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None


class CreateTaskDetail(CreateTaskSummary):
    logs: str = Field(description="The newest log lines: `<time> [<host>] <step>: <line>`.")
    error_msg: str
    machines: list[TaskMachineOut] = Field(default_factory=list)
    steps: list[TaskStepOut] = Field(
        default_factory=list, description="The journal: each step on each machine."
    )
    planned_steps: list[PlannedStep] = Field(
        default_factory=list, description="Every step the task runs, in order."
    )


class CreateTaskList(BaseModel):
    tasks: list[CreateTaskSummary]
    total: int
    page: int
    limit: int
