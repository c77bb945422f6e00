"""Request and response models of the observe endpoints (`/api/v1/clusters/{id}/...`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from taichu.api.schemas import InModel, OutModel

Number = int | float


class NodeSummary(BaseModel):
    control_plane_count: int
    worker_count: int
    ready_count: int


class NodeOut(OutModel):
    id: str = Field(description="The node's uid.")
    name: str
    type: str = Field(description="control-plane | worker")
    status: str = Field(description="ready | not_ready | unknown")
    cpu_cores: Number = Field(description="CPU capacity in cores.")
    cpu_usage_percent: float | None = Field(
        description="CPU in use / allocatable, from metrics.k8s.io; null when not served."
    )
    memory_bytes: int = Field(description="Memory capacity in bytes.")
    memory_usage_percent: float | None
    pod_count: int = Field(description="Non-terminated pods bound to the node.")
    labels: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None = Field(description="Latest condition heartbeat or change.")


class NodeList(BaseModel):
    nodes: list[NodeOut]
    total: int
    page: int
    limit: int
    summary: NodeSummary = Field(description="Over all of the cluster's nodes, not the page.")
    usage_available: bool = Field(description="Whether the cluster serves metrics.k8s.io.")
    usage_note: str | None = Field(description="Why usage is unavailable, when it is.")


class ConditionOut(OutModel):
    type: str
    status: str
    reason: str | None
    message: str | None
    last_transition_time: datetime | None


class AddressOut(BaseModel):
    type: str
    address: str


class TaintOut(BaseModel):
    key: str
    value: str
    effect: str


class NodeDetail(NodeOut):
    conditions: list[ConditionOut]
    addresses: list[AddressOut]
    taints: list[TaintOut]
    unschedulable: bool
    allocatable_cpu_cores: Number
    allocatable_memory_bytes: int
    pod_capacity: int
    cpu_requests_cores: float = Field(description="Requested by the node's running pods.")
    memory_requests_bytes: int
    cpu_limits_cores: float
    memory_limits_bytes: int
    node_info: dict[str, str] = Field(description="kubeletVersion, osImage, kernelVersion...")
    usage_available: bool
    usage_note: str | None


class EventOut(OutModel):
    id: str
    event_type: str = Field(description="Kind of the involved object, or Cluster.")
    message: str
    severity: str = Field(description="info | warning | error | critical")
    component: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    created_at: datetime | None
    source: str = Field(description="kubernetes (an Event object) | platform (Taichu's own)")
    reason: str
    namespace: str | None
    object_name: str | None


class EventSummary(BaseModel):
    info_count: int
    warning_count: int
    error_count: int
    critical_count: int


class EventList(BaseModel):
    events: list[EventOut]
    total: int
    page: int
    limit: int
    summary: EventSummary = Field(
        description="Per severity, over every event since `since` (whatever `severity`)."
    )
    cluster_events_available: bool = Field(
        description="False when the cluster could not be read: only platform events listed."
    )
    cluster_events_note: str | None


class NamespaceSecurity(BaseModel):
    namespace: str
    enforce: str = Field(description="Pod Security level enforced (privileged if unlabelled).")
    labelled: bool = Field(description="Whether the enforce label is set.")
    enforce_version: str | None
    audit: str | None
    warn: str | None


class SecurityPolicies(BaseModel):
    pod_security_standard: str = Field(
        description="The enforce level most namespaces have (ties: the least strict)."
    )
    pod_security_levels: dict[str, int]
    namespaces: list[NamespaceSecurity]
    network_policies_enabled: bool = Field(
        description="NetworkPolicies are in use (the API is served and some exist); whether "
        "they are enforced depends on the network plugin."
    )
    network_policies_count: int
    rbac_enabled: bool = Field(description="rbac.authorization.k8s.io is served.")
    rbac_roles_count: int = Field(description="Roles plus ClusterRoles.")
    roles_count: int
    cluster_roles_count: int
    audit_logging_enabled: bool | None = Field(
        description="From the kube-apiserver's flags; null when they are not visible."
    )
    audit_logging_mode: str = Field(
        description="--audit-log-mode (or --audit-webhook-mode) in effect; disabled; unknown."
    )
    audit_logging_backends: list[str]
    audit_logging_note: str | None


class HpaOut(BaseModel):
    name: str
    namespace: str
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int
    target_kind: str | None
    target_name: str | None


class NodeGroup(BaseModel):
    name: str
    min_nodes: int
    max_nodes: int


class ClusterAutoscalerOut(BaseModel):
    namespace: str
    name: str
    replicas: int
    ready_replicas: int
    node_groups: list[NodeGroup]
    scale_down_utilization_threshold: int | None = Field(
        description="--scale-down-utilization-threshold as a percentage, when set."
    )


class AutoscalingPolicies(BaseModel):
    enabled: bool
    min_nodes: int | None
    max_nodes: int | None
    scale_up_threshold: int | None
    scale_down_threshold: int | None
    settings_source: str = Field(
        description="stored (set through PUT) | detected (cluster-autoscaler flags) | none"
    )
    hpa_count: int
    hpa_policies: list[HpaOut]
    cluster_autoscaler_enabled: bool
    cluster_autoscaler: ClusterAutoscalerOut | None
    vpa_count: int
    vpa_crd_present: bool
    vpa_note: str | None


class AutoscalingUpdate(InModel):
    enabled: bool
    min_nodes: int = Field(ge=1, le=100_000)
    max_nodes: int = Field(ge=1, le=100_000)
    scale_up_threshold: int = Field(gt=0, le=100, description="Percent; above scale-down.")
    scale_down_threshold: int = Field(gt=0, le=100, description="Percent; below scale-up.")


class AutoscalingSettingsOut(OutModel):
    cluster_id: str
    enabled: bool
    min_nodes: int | None
    max_nodes: int | None
    scale_up_threshold: int | None
    scale_down_threshold: int | None
    updated_at: datetime
