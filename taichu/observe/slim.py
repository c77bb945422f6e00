"""Slim records of Kubernetes objects: only what the platform serves.

A raw pod is 3-10 KB of parsed JSON (managedFields, full specs); a slim pod is a few
hundred bytes, which is what lets a 50,000-pod cluster sit in the cache. Repeated short
strings (namespaces, node names, phases, label keys) are interned so that thousands of
records share one copy.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taichu.kube.quantity import byte_count, cpu_cores

Obj = dict[str, Any]

CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
TERMINATED_PHASES = frozenset({"Succeeded", "Failed"})
# Warning reasons that mean something failed, not merely "look at this".
ERROR_REASONS = frozenset(
    {
        "BackOff",
        "Failed",
        "FailedScheduling",
        "OOMKilling",
        "Evicted",
        "FailedMount",
        "FailedAttachVolume",
        "FailedCreate",
        "FailedCreatePodSandBox",
        "FailedKillPod",
        "FailedPostStartHook",
        "FailedPreStopHook",
        "FailedBinding",
        "FailedSync",
        "FailedDaemonPod",
        "CrashLoopBackOff",
        "SystemOOM",
        "ContainerGCFailed",
        "ImageGCFailed",
        "ErrImagePull",
        "FailedToCreateEndpoint",
        "FailedComputeMetricsReplicas",
    }
)
_intern = sys.intern


def ts(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (with `Z` or offset, with or without fractions) or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _labels(meta: Obj) -> dict[str, str]:
    return {_intern(k): _intern(v) for k, v in (meta.get("labels") or {}).items()}


@dataclass(slots=True, frozen=True)
class NodeCondition:
    type: str
    status: str
    reason: str | None
    message: str | None
    last_transition: datetime | None


@dataclass(slots=True, frozen=True)
class SlimNode:
    uid: str
    name: str
    labels: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None
    role: str  # control-plane | worker
    status: str  # ready | not_ready | unknown
    cpu_capacity: float
    memory_capacity: int
    cpu_allocatable: float
    memory_allocatable: int
    pods_capacity: int
    pods_allocatable: int
    unschedulable: bool
    conditions: tuple[NodeCondition, ...]
    addresses: tuple[tuple[str, str], ...]
    taints: tuple[tuple[str, str, str], ...]  # key, value, effect
    node_info: dict[str, str]


_NODE_INFO_KEYS = (
    "kubeletVersion",
    "osImage",
    "kernelVersion",
    "containerRuntimeVersion",
    "operatingSystem",
    "architecture",
)


def node_status(conditions: list[Obj]) -> str:
    for condition in conditions:
        if condition.get("type") == "Ready":
            return {"True": "ready", "False": "not_ready"}.get(condition.get("status"), "unknown")
    return "unknown"


def slim_node(obj: Obj) -> SlimNode:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    labels = _labels(meta)
    raw_conditions = status.get("conditions") or []
    created = ts(meta.get("creationTimestamp"))
    # A node has no "updated" stamp; the freshest condition time is when its state was last
    # reported (heartbeat) or changed.
    times = [
        t
        for c in raw_conditions
        for t in (ts(c.get("lastHeartbeatTime")), ts(c.get("lastTransitionTime")))
        if t
    ]
    capacity = status.get("capacity") or {}
    allocatable = status.get("allocatable") or capacity
    info = status.get("nodeInfo") or {}
    return SlimNode(
        uid=meta.get("uid", ""),
        name=meta.get("name", ""),
        labels=labels,
        created_at=created,
        updated_at=max(times) if times else created,
        role="control-plane" if any(k in labels for k in CONTROL_PLANE_LABELS) else "worker",
        status=node_status(raw_conditions),
        cpu_capacity=_cores(capacity.get("cpu")),
        memory_capacity=_bytes(capacity.get("memory")),
        cpu_allocatable=_cores(allocatable.get("cpu")),
        memory_allocatable=_bytes(allocatable.get("memory")),
        pods_capacity=int(_cores(capacity.get("pods"))),
        pods_allocatable=int(_cores(allocatable.get("pods"))),
        unschedulable=bool(spec.get("unschedulable")),
        conditions=tuple(
            NodeCondition(
                _intern(c.get("type", "")),
                _intern(c.get("status", "")),
                c.get("reason"),
                c.get("message"),
                ts(c.get("lastTransitionTime")),
            )
            for c in raw_conditions
        ),
        addresses=tuple(
            (_intern(a.get("type", "")), a.get("address", ""))
            for a in status.get("addresses") or []
        ),
        taints=tuple(
            (t.get("key", ""), t.get("value", ""), t.get("effect", ""))
            for t in spec.get("taints") or []
        ),
        node_info={k: info[k] for k in _NODE_INFO_KEYS if info.get(k)},
    )


def _cores(value: Any) -> float:
    try:
        return cpu_cores(value)
    except ValueError:
        return 0.0


def _bytes(value: Any) -> int:
    try:
        return byte_count(value)
    except ValueError:
        return 0


@dataclass(slots=True, frozen=True)
class SlimPod:
    uid: str
    name: str
    namespace: str
    node_name: str | None
    phase: str
    status: str  # what kubectl shows: Running, Pending, CrashLoopBackOff, Terminating...
    ready: bool
    ready_containers: int
    total_containers: int
    restarts: int
    labels: dict[str, str]
    cpu_requests: float
    memory_requests: int
    cpu_limits: float
    memory_limits: int
    created_at: datetime | None
    pod_ip: str | None
    host_ip: str | None
    owner_kind: str | None
    owner_name: str | None

    @property
    def terminated(self) -> bool:
        return self.phase in TERMINATED_PHASES


def _container_amount(container: Obj, section: str, resource: str) -> float:
    value = ((container.get("resources") or {}).get(section) or {}).get(resource)
    return _cores(value) if resource == "cpu" else float(_bytes(value))


def pod_amount(spec: Obj, section: str, resource: str) -> float:
    """The pod's effective request (or limit) of `resource`, as the scheduler computes it:
    app containers plus sidecars (restartable init containers), or the peak of the init
    phase when that is higher, plus the pod overhead."""
    total = sum(_container_amount(c, section, resource) for c in spec.get("containers") or [])
    sidecars = peak = 0.0
    for c in spec.get("initContainers") or []:
        amount = _container_amount(c, section, resource)
        if c.get("restartPolicy") == "Always":
            sidecars += amount
            peak = max(peak, sidecars)
        else:
            peak = max(peak, sidecars + amount)
    overhead = (spec.get("overhead") or {}).get(resource)
    extra = (_cores(overhead) if resource == "cpu" else _bytes(overhead)) if overhead else 0
    return max(total + sidecars, peak) + extra


def _pod_status_text(meta: Obj, status: Obj) -> str:
    if meta.get("deletionTimestamp"):
        return "Terminating"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        for key in ("waiting", "terminated"):
            reason = (state.get(key) or {}).get("reason")
            if reason and reason != "Completed":
                return str(reason)
    return str(status.get("reason") or status.get("phase") or "Unknown")


def slim_pod(obj: Obj) -> SlimPod:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    statuses = status.get("containerStatuses") or []
    owner = next(
        (o for o in meta.get("ownerReferences") or [] if o.get("controller")), None
    ) or next(iter(meta.get("ownerReferences") or []), None)
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    node_name = spec.get("nodeName")
    host_ip = status.get("hostIP")
    return SlimPod(
        uid=meta.get("uid", ""),
        name=meta.get("name", ""),
        namespace=_intern(meta.get("namespace", "")),
        node_name=_intern(node_name) if node_name else None,
        phase=_intern(status.get("phase") or "Unknown"),
        status=_intern(_pod_status_text(meta, status)),
        ready=ready,
        ready_containers=sum(1 for c in statuses if c.get("ready")),
        total_containers=len(spec.get("containers") or []),
        restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
        labels=_labels(meta),
        cpu_requests=pod_amount(spec, "requests", "cpu"),
        memory_requests=int(pod_amount(spec, "requests", "memory")),
        cpu_limits=pod_amount(spec, "limits", "cpu"),
        memory_limits=int(pod_amount(spec, "limits", "memory")),
        created_at=ts(meta.get("creationTimestamp")),
        pod_ip=status.get("podIP"),
        host_ip=_intern(host_ip) if host_ip else None,
        owner_kind=_intern(owner["kind"]) if owner and owner.get("kind") else None,
        owner_name=_intern(owner["name"]) if owner and owner.get("name") else None,
    )


@dataclass(slots=True, frozen=True)
class SlimEvent:
    uid: str
    namespace: str
    kind: str  # of the involved object
    object_name: str
    reason: str
    message: str
    type: str  # Normal | Warning
    severity: str  # info | warning | error
    component: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    created_at: datetime | None


def event_severity(event_type: str, reason: str) -> str:
    if reason in ERROR_REASONS:
        return "error"
    return "info" if event_type == "Normal" else "warning"


def slim_event(obj: Obj) -> SlimEvent:
    meta = obj.get("metadata") or {}
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    series = obj.get("series") or {}
    source = obj.get("source") or {}
    created = ts(meta.get("creationTimestamp"))
    event_time = ts(obj.get("eventTime"))
    first = ts(obj.get("firstTimestamp")) or event_time or created
    last = ts(series.get("lastObservedTime")) or ts(obj.get("lastTimestamp")) or event_time or first
    event_type = obj.get("type") or "Normal"
    reason = obj.get("reason") or ""
    return SlimEvent(
        uid=meta.get("uid", ""),
        namespace=_intern(meta.get("namespace", "")),
        kind=_intern(involved.get("kind") or "Unknown"),
        object_name=involved.get("name") or "",
        reason=_intern(reason),
        message=obj.get("message") or obj.get("note") or "",
        type=_intern(event_type),
        severity=event_severity(event_type, reason),
        component=_intern(
            source.get("component")
            or obj.get("reportingComponent")
            or obj.get("reportingController")
            or ""
        ),
        count=int(series.get("count") or obj.get("count") or 1),
        first_seen=first,
        last_seen=last,
        created_at=created,
    )
