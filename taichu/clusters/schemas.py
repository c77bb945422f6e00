from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from taichu.api.schemas import InModel, OutModel

NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,98}[A-Za-z0-9])?$"
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
MAX_KUBECONFIG = 1024 * 1024
LabelMap = Annotated[dict[str, str], AfterValidator(lambda v: check_labels(v))]
EnvironmentType = Literal["production", "staging", "testing", "development", "default"]


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > 64:
        raise ValueError("at most 64 labels")
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(f"invalid label key '{key}'")
        if not _LABEL_VALUE.match(value):
            raise ValueError(f"invalid label value '{value}' for '{key}'")
    return labels


class ClusterCreate(InModel):
    name: str = Field(pattern=NAME_PATTERN, description="1-100 of A-Z a-z 0-9 _ . -")
    description: str = Field("", max_length=1000)
    kubeconfig: str = Field(min_length=1, max_length=MAX_KUBECONFIG)
    labels: LabelMap = Field(default_factory=dict)
    context: str | None = Field(None, max_length=253, description="Default: current-context")
    insecure_skip_tls_verify: bool = Field(
        False, description="Accept a kubeconfig that disables TLS verification."
    )
    environment_type: EnvironmentType = "default"
    region: str = Field("default", max_length=64)


class ClusterImportRequest(InModel):
    import_source: str = Field("manual", pattern=r"^[a-z0-9_-]{1,32}$")
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field("", max_length=1000)
    environment_type: EnvironmentType = "default"
    kubeconfig: str = Field(min_length=1, max_length=MAX_KUBECONFIG)
    labels: LabelMap = Field(default_factory=dict)
    context: str | None = Field(None, max_length=253)
    insecure_skip_tls_verify: bool = False
    region: str = Field("default", max_length=64)


class ClusterCreated(OutModel):
    id: str
    name: str
    description: str
    status: str
    created_at: datetime


class ClusterSummary(OutModel):
    id: str
    name: str
    description: str
    status: str
    provider: str
    region: str
    environment_type: str
    version: str | None
    kubernetes_version: str | None = Field(None, validation_alias="version")
    node_count: int
    labels: dict[str, str]
    api_server_url: str
    last_heartbeat_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ClusterDetail(ClusterSummary):
    ready_node_count: int
    total_cpu_cores: float
    total_memory_bytes: int
    total_storage_bytes: int
    used_storage_bytes: int | None
    storage_usage_percent: float | None
    last_probe_error: str | None
    # A created cluster's CA and component certificate expiry (taichu.provision.certificates).
    certificates: dict[str, Any] | None = None


class ClusterList(BaseModel):
    clusters: list[ClusterSummary]
    total: int
    page: int
    limit: int


class ImportOut(OutModel):
    id: str
    cluster_id: str
    import_source: str
    import_status: str
    imported_resources: Any
    imported_by: str | None
    imported_at: datetime
    completed_at: datetime | str | None


class ImportList(BaseModel):
    imports: list[ImportOut]
    total: int
    page: int
    limit: int


class ImportStatusOut(BaseModel):
    import_id: str
    cluster_id: str
    import_status: str
    progress: int
    current_step: str
    error_message: str
    validation_results: dict[str, Any]
    imported_resources: Any


class TopologyCluster(BaseModel):
    id: str
    name: str
    status: str
    node_count: int
    version: str | None


class TopologyEnvironment(BaseModel):
    type: str
    count: int
    clusters: list[TopologyCluster]
    total_node_count: int
    healthy_clusters: int
    unhealthy_clusters: int


class TopologySummary(BaseModel):
    total_clusters: int
    total_environments: int
    total_nodes: int
    healthy_clusters: int


class Topology(BaseModel):
    environments: list[TopologyEnvironment]
    summary: TopologySummary
