"""Nodes as `/api/v1` serves them, read from the cluster cache."""

from __future__ import annotations

from typing import Any

from taichu.errors import Invalid, NotFound
from taichu.observe.cache import ClusterView
from taichu.observe.metrics import UsageSnapshot
from taichu.observe.slim import SlimNode

NODE_TYPES = {"control-plane": "control-plane", "master": "control-plane", "worker": "worker"}
NODE_STATUSES = {
    "ready": "ready",
    "not_ready": "not_ready",
    "notready": "not_ready",
    "unknown": "unknown",
}


def parse_type(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return NODE_TYPES[value.strip().lower()]
    except KeyError:
        raise Invalid("type: must be one of control-plane, worker, master") from None


def parse_status(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return NODE_STATUSES[value.strip().lower().replace("-", "_")]
    except KeyError:
        raise Invalid("status: must be one of ready, not_ready (or notready), unknown") from None


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


def _percent(used: float, of: float) -> float | None:
    return round(100.0 * used / of, 1) if of > 0 else None


def node_item(node: SlimNode, view: ClusterView, usage: UsageSnapshot) -> dict[str, Any]:
    used = usage.of(node.name) if usage.available else None
    return {
        "id": node.uid,
        "name": node.name,
        "type": node.role,
        "status": node.status,
        "cpu_cores": _number(node.cpu_capacity),
        # Percent of allocatable, as `kubectl top nodes` shows it.
        "cpu_usage_percent": _percent(used[0], node.cpu_allocatable) if used else None,
        "memory_bytes": node.memory_capacity,
        "memory_usage_percent": _percent(used[1], node.memory_allocatable) if used else None,
        "pod_count": view.totals(node.name).pods,
        "labels": node.labels,
        "created_at": node.created_at,
        "updated_at": node.updated_at,
    }


def list_nodes(
    view: ClusterView,
    usage: UsageSnapshot,
    *,
    node_type: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    if node_type is None and status is None:
        names = view.node_names()
        total = len(names)
        page = [n for n in (view.node(name) for name in names[offset : offset + limit]) if n]
    else:
        matching = [
            n
            for n in view.nodes()
            if (node_type is None or n.role == node_type) and (status is None or n.status == status)
        ]
        total = len(matching)
        page = matching[offset : offset + limit]
    summary = view.summary()
    return {
        "nodes": [node_item(n, view, usage) for n in page],
        "total": total,
        "summary": {
            "control_plane_count": summary.control_plane,
            "worker_count": summary.worker,
            "ready_count": summary.ready,
        },
        "usage_available": usage.available,
        "usage_note": usage.note,
    }


def node_detail(view: ClusterView, usage: UsageSnapshot, name: str) -> dict[str, Any]:
    node = view.node(name)
    if node is None:
        raise NotFound(f"node {name} not found")
    totals = view.totals(name)
    return {
        **node_item(node, view, usage),
        "conditions": [
            {
                "type": c.type,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
                "last_transition_time": c.last_transition,
            }
            for c in node.conditions
        ],
        "addresses": [{"type": t, "address": a} for t, a in node.addresses],
        "taints": [{"key": k, "value": v, "effect": e} for k, v, e in node.taints],
        "unschedulable": node.unschedulable,
        "allocatable_cpu_cores": _number(node.cpu_allocatable),
        "allocatable_memory_bytes": node.memory_allocatable,
        "pod_capacity": node.pods_allocatable,
        "cpu_requests_cores": round(totals.cpu_requests, 3),
        "memory_requests_bytes": totals.memory_requests,
        "cpu_limits_cores": round(totals.cpu_limits, 3),
        "memory_limits_bytes": totals.memory_limits,
        "node_info": node.node_info,
        "usage_available": usage.available,
        "usage_note": usage.note,
    }
