"""In-memory stores that informers fill: slim records plus the indexes the API reads
through, kept up to date on every event so that reads cost O(page), not O(cluster).

Stores are touched only from the event loop (informer tasks and request handlers), so
they need no locks: every method runs to completion without awaiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taichu.observe.slim import SlimEvent, SlimNode, SlimPod, slim_event, slim_node, slim_pod

Obj = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _uid(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    # Objects without uid do not exist in a real API server; fall back to the name.
    return meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class NodeStore:
    def __init__(self) -> None:
        self.by_name: dict[str, SlimNode] = {}
        self.control_plane = 0
        self.ready = 0
        self._names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.by_name)

    def _count(self, node: SlimNode, sign: int) -> None:
        self.control_plane += sign * (node.role == "control-plane")
        self.ready += sign * (node.status == "ready")

    def upsert(self, obj: Obj) -> None:
        node = slim_node(obj)
        old = self.by_name.get(node.name)
        if old is not None:
            self._count(old, -1)
        else:
            self._names = None  # the order changes only when a name comes or goes
        self.by_name[node.name] = node
        self._count(node, +1)

    def remove(self, obj: Obj) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        old = self.by_name.pop(name, None)
        if old is not None:
            self._count(old, -1)
            self._names = None

    def names(self) -> list[str]:
        """Every node name, sorted; rebuilt only after a node came or went."""
        if self._names is None:
            self._names = sorted(self.by_name)
        return self._names


@dataclass(slots=True)
class NodeTotals:
    """What the non-terminated pods bound to one node hold (kubectl describe node)."""

    pods: int = 0
    cpu_requests: float = 0.0
    memory_requests: int = 0
    cpu_limits: float = 0.0
    memory_limits: int = 0

    def add(self, pod: SlimPod, sign: int) -> None:
        self.pods += sign
        self.cpu_requests += sign * pod.cpu_requests
        self.memory_requests += sign * pod.memory_requests
        self.cpu_limits += sign * pod.cpu_limits
        self.memory_limits += sign * pod.memory_limits


class PodStore:
    def __init__(self) -> None:
        self.by_uid: dict[str, SlimPod] = {}
        self.by_namespace: dict[str, dict[str, SlimPod]] = {}
        self.node_totals: dict[str, NodeTotals] = {}
        self._sorted: dict[str, list[SlimPod]] = {}

    def __len__(self) -> int:
        return len(self.by_uid)

    def _account(self, pod: SlimPod, sign: int) -> None:
        if pod.node_name is None or pod.terminated:
            return
        totals = self.node_totals.get(pod.node_name)
        if totals is None:
            totals = self.node_totals[pod.node_name] = NodeTotals()
        totals.add(pod, sign)
        if totals.pods == 0:
            del self.node_totals[pod.node_name]  # also drops float residue of the sums

    def upsert(self, obj: Obj) -> None:
        pod = slim_pod(obj)
        uid = pod.uid or _uid(obj)
        old = self.by_uid.get(uid)
        if old is not None:
            self._account(old, -1)
        self.by_uid[uid] = pod
        self.by_namespace.setdefault(pod.namespace, {})[uid] = pod
        self._account(pod, +1)
        self._sorted.pop(pod.namespace, None)

    def remove(self, obj: Obj) -> None:
        uid = _uid(obj)
        old = self.by_uid.pop(uid, None)
        if old is None:
            return
        self._account(old, -1)
        members = self.by_namespace.get(old.namespace)
        if members is not None:
            members.pop(uid, None)
            if not members:
                del self.by_namespace[old.namespace]
        self._sorted.pop(old.namespace, None)

    def in_namespace(self, namespace: str) -> list[SlimPod]:
        """The namespace's pods by name; the order is cached until the namespace changes."""
        cached = self._sorted.get(namespace)
        if cached is None:
            members = self.by_namespace.get(namespace) or {}
            cached = sorted(members.values(), key=lambda p: p.name)
            self._sorted[namespace] = cached
        return cached

    def namespaces(self) -> list[str]:
        return sorted(self.by_namespace)


class EventStore:
    def __init__(self) -> None:
        self.by_uid: dict[str, SlimEvent] = {}
        self._sorted: list[SlimEvent] | None = None

    def __len__(self) -> int:
        return len(self.by_uid)

    def upsert(self, obj: Obj) -> None:
        event = slim_event(obj)
        self.by_uid[event.uid or _uid(obj)] = event
        self._sorted = None

    def remove(self, obj: Obj) -> None:
        if self.by_uid.pop(_uid(obj), None) is not None:
            self._sorted = None

    def newest_first(self) -> list[SlimEvent]:
        if self._sorted is None:
            self._sorted = sorted(
                self.by_uid.values(), key=lambda e: e.last_seen or _EPOCH, reverse=True
            )
        return self._sorted
