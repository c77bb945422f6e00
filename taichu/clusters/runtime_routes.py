"""Runtime family (`/api/...`): clusters by API-server address, account binding."""

from __future__ import annotations

from fastapi import APIRouter

from taichu.api.deps import Ctx, CurrentUser, Session
from taichu.clusters import bindings, service
from taichu.clusters.runtime_schemas import (
    BindOut,
    BindRequest,
    RuntimeCluster,
    RuntimeClusterRegister,
)

router = APIRouter(prefix="/api", tags=["runtime: clusters"])


@router.post("/runtime/clusters/register/", response_model=RuntimeCluster)
async def register_cluster(
    body: RuntimeClusterRegister, principal: CurrentUser, ctx: Ctx, session: Session
) -> RuntimeCluster:
    cluster = await bindings.register_by_address(
        ctx, session, bindings.AddressRegistration(**body.model_dump()), principal
    )
    return RuntimeCluster.model_validate(cluster)


@router.get("/runtime/clusters/", response_model=list[RuntimeCluster])
async def list_clusters(_: CurrentUser, session: Session) -> list[RuntimeCluster]:
    return [RuntimeCluster.model_validate(c) for c in await service.all_clusters(session)]


@router.post("/auth/k8s/account/bind/", response_model=BindOut)
async def bind_account(body: BindRequest, principal: CurrentUser, ctx: Ctx) -> BindOut:
    binding = await bindings.bind_account(
        ctx, principal, str(body.cluster_id), body.token, body.namespace
    )
    return BindOut.model_validate(binding)
