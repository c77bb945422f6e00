"""Runtime family reads: nodes, pods and resources as the caller's Kubernetes identity."""

from __future__ import annotations

from fastapi import APIRouter, Query

from taichu.api.deps import Ctx, CurrentUser
from taichu.clusters.runtime_schemas import cluster_uuid
from taichu.errors import Invalid
from taichu.observe import runtime_reads
from taichu.observe.runtime_schemas import RuntimeNodeList, RuntimePodList, RuntimeResources

router = APIRouter(prefix="/api/runtime", tags=["runtime: resources"])
ClusterId = Query(..., description="Cluster id (UUID)")
NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


def _cluster(value: str) -> str:
    try:
        return cluster_uuid(value)
    except ValueError as e:
        raise Invalid(f"cluster_id: {e}") from e


@router.get("/nodes/", response_model=RuntimeNodeList)
async def nodes(principal: CurrentUser, ctx: Ctx, cluster_id: str = ClusterId) -> object:
    items = await runtime_reads.list_nodes(ctx, principal, _cluster(cluster_id))
    return {"cluster_id": cluster_id, "count": len(items), "nodes": items}


@router.get("/pods/", response_model=RuntimePodList)
async def pods(
    principal: CurrentUser,
    ctx: Ctx,
    cluster_id: str = ClusterId,
    namespace: str | None = Query(None, pattern=NAMESPACE, description="Default: all"),
) -> object:
    items = await runtime_reads.list_pods(ctx, principal, _cluster(cluster_id), namespace)
    return {"cluster_id": cluster_id, "namespace": namespace, "count": len(items), "pods": items}


@router.get("/resources/", response_model=RuntimeResources)
async def resources(principal: CurrentUser, ctx: Ctx, cluster_id: str = ClusterId) -> object:
    return await runtime_reads.resources(ctx, principal, _cluster(cluster_id))
