"""One look at a cluster: is it ready, what version, how many nodes, what capacity.

Everything read is checked before it is stored and shown to every user: the version is a
short version string, capacities are quantities within range, and a node list is bounded
in pages, items and time. A malformed answer makes the cluster `error` with a message
naming what was wrong. A probe refused room in the platform's read budget
gives no verdict (`ReadBudgetExhausted` passes through): that is the platform's load, not the
cluster's health."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from taichu.errors import TaichuError
from taichu.kube import ClusterUnreachable, KubeClient, MalformedAnswer, ReadBudgetExhausted
from taichu.kube.answers import expect_object, field_list, field_object
from taichu.kube.quantity import parse_quantity

# Far above what Kubernetes supports (5,000 nodes), far below what would hurt us.
PROBE_MAX_NODES = 50_000
PROBE_MAX_PAGES = 200
# One node's capacity beyond this is not a real machine (and totals must fit a BIGINT).
_MAX_CORES = Decimal(10**6)
_MAX_BYTES = Decimal(2**53)
_MAX_TOTAL = 2**63 - 1
MAX_ERROR_LENGTH = 1000


@dataclass
class ProbeResult:
    status: str
    version: str | None = None
    node_count: int = 0
    ready_node_count: int = 0
    total_cpu_cores: float = 0.0
    total_memory_bytes: int = 0
    total_storage_bytes: int = 0
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # False: the server answered but its node list did not come in time; the node totals
    # above are unknown, and whoever stores this result keeps the ones it had.
    nodes_read: bool = True


def node_is_ready(node: dict[str, Any]) -> bool:
    status = field_object(node, "status", "node")
    for condition in field_list(status, "conditions", "node.status"):
        condition = expect_object(condition, "node.status.conditions[]")
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _quantity(capacity: dict[str, Any], key: str, bound: Decimal) -> Decimal:
    value = capacity.get(key)
    if value is not None and not isinstance(value, str | int | float):
        raise MalformedAnswer(f"node status.capacity.{key} is not a quantity")
    if isinstance(value, str) and len(value) > 64:
        raise MalformedAnswer(f"node status.capacity.{key} is not a quantity (too long)")
    try:
        quantity = parse_quantity(value)
    except ValueError:
        raise MalformedAnswer(f"node status.capacity.{key} is not a quantity") from None
    if not quantity.is_finite() or not 0 <= quantity <= bound:
        raise MalformedAnswer(f"node status.capacity.{key} is out of range")
    return quantity


def summarize_nodes(nodes: list[Any]) -> dict[str, Any]:
    """Totals of a node list; MalformedAnswer for a node that is not a node."""
    cpu = memory = storage = Decimal(0)
    ready = 0
    for node in nodes:
        node = expect_object(node, "an item of the node list")
        capacity = field_object(field_object(node, "status", "node"), "capacity", "node.status")
        cpu += _quantity(capacity, "cpu", _MAX_CORES)
        memory += _quantity(capacity, "memory", _MAX_BYTES)
        storage += _quantity(capacity, "ephemeral-storage", _MAX_BYTES)
        ready += node_is_ready(node)
    if max(memory, storage) > _MAX_TOTAL:
        raise MalformedAnswer("the nodes' total capacity is out of range")
    return {
        "node_count": len(nodes),
        "ready_node_count": ready,
        "total_cpu_cores": round(float(cpu), 3),
        "total_memory_bytes": int(memory),
        "total_storage_bytes": int(storage),
    }


def _nodes_unread(version: str, why: str) -> ProbeResult:
    error = f"the API server answered, but {why}"[:MAX_ERROR_LENGTH]
    return ProbeResult(status="unhealthy", version=version, nodes_read=False, error=error)


def _failure(e: TaichuError) -> ProbeResult:
    status = "disconnected" if isinstance(e, ClusterUnreachable) else "error"
    return ProbeResult(status=status, error=e.message[:MAX_ERROR_LENGTH])


async def probe_cluster(
    kube: KubeClient, max_seconds: float | None = None, node_list_seconds: float | None = None
) -> ProbeResult:
    """healthy: /readyz passes and every node is Ready; unhealthy: reachable but not;
    disconnected: unreachable; error: reachable but refusing our credentials or answering
    what an API server would not.

    `max_seconds` bounds reaching the server (/readyz, /version); `node_list_seconds` bounds
    the node list read after it. A server that answered but whose node list does not come in
    time is `unhealthy` with its node totals unknown (`nodes_read` False): a big cluster busy
    creating nodes is slow, not gone, and can still be registered. Raises
    ReadBudgetExhausted: no verdict, the caller retries later."""
    try:
        async with asyncio.timeout(max_seconds):
            ready, detail = await kube.readyz()
            version = await kube.git_version()
    except TimeoutError:
        return ProbeResult(
            status="disconnected",
            error=f"/readyz and /version took longer than {max_seconds:g}s "
            "(setting cluster_probe_timeout)",
        )
    except ReadBudgetExhausted:
        raise
    except TaichuError as e:
        return _failure(e)
    # A whole list (one answer) may take longer than the client's per-request timeout; the
    # node-list bound is the one that holds, and its own message says so.
    per_request = None if node_list_seconds is None else node_list_seconds + 1
    try:
        async with asyncio.timeout(node_list_seconds):
            # resourceVersion=0 lets the API server answer from its watch cache.
            nodes, _ = await kube.list_all(
                "/api/v1/nodes",
                {"resourceVersion": "0"},
                max_items=PROBE_MAX_NODES,
                max_pages=PROBE_MAX_PAGES,
                request_timeout=per_request,
            )
        totals = summarize_nodes(nodes)
    except TimeoutError:
        return _nodes_unread(
            version,
            f"its node list took longer than {node_list_seconds:g}s "
            "(setting cluster_node_list_timeout)",
        )
    except ClusterUnreachable as e:  # it answered a moment ago: slow or flapping, not gone
        return _nodes_unread(version, f"its node list failed: {e.message}")
    except ReadBudgetExhausted:
        raise
    except TaichuError as e:
        return _failure(e)
    healthy = ready and totals["ready_node_count"] == totals["node_count"]
    error = None
    if not ready:
        error = f"readyz failed: {detail}"[:MAX_ERROR_LENGTH]
    elif not healthy:
        error = f"{totals['node_count'] - totals['ready_node_count']} node(s) not Ready"
    return ProbeResult(
        status="healthy" if healthy else "unhealthy", version=version, error=error, **totals
    )
