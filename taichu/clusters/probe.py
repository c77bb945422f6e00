"""One look at a cluster: is it ready, what version, how many nodes, what capacity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taichu.errors import TaichuError, Unauthorized
from taichu.kube import ClusterUnreachable, KubeClient
from taichu.kube.quantity import byte_count, cpu_cores


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


def node_is_ready(node: dict[str, Any]) -> bool:
    for condition in node.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def summarize_nodes(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    cpu = memory = storage = 0.0
    ready = 0
    for node in nodes:
        capacity = node.get("status", {}).get("capacity") or {}
        cpu += cpu_cores(capacity.get("cpu"))
        memory += byte_count(capacity.get("memory"))
        storage += byte_count(capacity.get("ephemeral-storage"))
        ready += node_is_ready(node)
    return {
        "node_count": len(nodes),
        "ready_node_count": ready,
        "total_cpu_cores": round(cpu, 3),
        "total_memory_bytes": int(memory),
        "total_storage_bytes": int(storage),
    }


async def probe_cluster(kube: KubeClient) -> ProbeResult:
    """healthy: /readyz passes and every node is Ready; unhealthy: reachable but not;
    disconnected: unreachable; error: reachable but refusing our credentials."""
    try:
        ready, detail = await kube.readyz()
        version = (await kube.version()).get("gitVersion")
        # resourceVersion=0 lets the API server answer from its watch cache.
        nodes, _ = await kube.list_all("/api/v1/nodes", {"resourceVersion": "0"})
    except ClusterUnreachable as e:
        return ProbeResult(status="disconnected", error=e.message)
    except Unauthorized as e:
        return ProbeResult(status="error", error=e.message)
    except TaichuError as e:
        return ProbeResult(status="error", error=e.message)
    totals = summarize_nodes(nodes)
    healthy = ready and totals["ready_node_count"] == totals["node_count"]
    error = None
    if not ready:
        error = f"readyz failed: {detail}"[:500]
    elif not healthy:
        error = f"{totals['node_count'] - totals['ready_node_count']} node(s) not Ready"
    return ProbeResult(
        status="healthy" if healthy else "unhealthy", version=version, error=error, **totals
    )
