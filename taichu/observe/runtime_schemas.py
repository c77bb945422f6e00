"""Response models of the runtime family's reads (plain JSON, no envelope)."""

from __future__ import annotations

from pydantic import BaseModel


class RuntimeNode(BaseModel):
    name: str
    status: str
    roles: list[str]
    internal_ip: str | None
    kubelet_version: str | None
    cpu_cores: float
    memory_bytes: int
    pods_capacity: int
    labels: dict[str, str]
    created_at: str | None


class RuntimeNodeList(BaseModel):
    cluster_id: str
    count: int
    nodes: list[RuntimeNode]


class RuntimePod(BaseModel):
    name: str
    namespace: str
    status: str
    node: str | None
    pod_ip: str | None
    ready: str
    restarts: int
    created_at: str | None


class RuntimePodList(BaseModel):
    cluster_id: str
    namespace: str | None
    count: int
    pods: list[RuntimePod]


class CpuMemory(BaseModel):
    cpu: float
    memory: int


class NodeResources(BaseModel):
    name: str
    capacity: CpuMemory
    allocatable: CpuMemory
    requested: CpuMemory
    used: CpuMemory | None  # null when the cluster serves no metrics API


class ResourceTotals(BaseModel):
    capacity: CpuMemory
    allocatable: CpuMemory
    requested: CpuMemory
    used: CpuMemory | None


class RuntimeResources(BaseModel):
    cluster_id: str
    metrics_available: bool
    nodes: list[NodeResources]
    total: ResourceTotals
