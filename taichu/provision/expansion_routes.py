"""Expansions and node removals of created clusters (spec: 扩展接口), under `/clusters/{id}`.
Reading is open to signed-in users; asking, cancelling and removing is for admins (the
machines are the inventory's)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from taichu.api.deps import AdminUser, Ctx, CurrentUser, Session
from taichu.api.envelope import Envelope, ok
from taichu.clusters.service import get_cluster
from taichu.provision import expansion, planned, removal
from taichu.provision.expansion_models import ClusterExpansion, NodeRemoval
from taichu.provision.expansion_schemas import (
    ExpansionDetail,
    ExpansionHistory,
    ExpansionIn,
    ExpansionOut,
    NodeRemovalOut,
)

router = APIRouter(prefix="/api/v1", tags=["expansion"])


def _out(record: ClusterExpansion) -> dict[str, object]:
    return ExpansionOut.model_validate(record).model_dump(mode="json")


async def _detail(ctx: Ctx, session: Session, record: ClusterExpansion) -> dict[str, object]:
    lines = ctx.settings.provision.detail_log_lines
    data = ExpansionDetail.model_validate(
        {
            **ExpansionOut.model_validate(record).model_dump(),
            "progress": record.progress,
            "current_step": record.current_step,
            "error_msg": record.error_message or "",
            "started_at": record.started_at,
            "completed_at": record.completed_at,
            "machines": record.machines,
            "steps": await expansion.run_steps(session, record.task_id, record.id),
            "planned_steps": planned.expansion_steps(ctx.settings),
            "logs": await expansion.run_log(session, record.task_id, record.id, lines),
        }
    )
    return data.model_dump(mode="json")


async def _removal(ctx: Ctx, session: Session, record: NodeRemoval) -> dict[str, object]:
    lines = ctx.settings.provision.detail_log_lines
    data = NodeRemovalOut.model_validate(
        {
            **{c: getattr(record, c) for c in NodeRemovalOut.model_fields if hasattr(record, c)},
            "error_msg": record.error_message or "",
            "steps": await expansion.run_steps(session, record.task_id, record.id),
            "logs": await expansion.run_log(session, record.task_id, record.id, lines),
        }
    )
    return data.model_dump(mode="json")


@router.post(
    "/clusters/{id}/expansion",
    response_model=Envelope[ExpansionOut],
    operation_id="clusters_expansion_request",
)
async def request_expansion(
    id: str, body: ExpansionIn, principal: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    record = await expansion.request_expansion(ctx, session, principal, id, body)
    return ok(_out(record))


@router.get("/clusters/{id}/expansion/history", response_model=Envelope[ExpansionHistory])
async def expansion_history(
    id: str,
    principal: CurrentUser,
    session: Session,
    limit: int = Query(expansion.HISTORY_LIMIT, ge=1, le=expansion.HISTORY_LIMIT),
) -> dict[str, object]:
    cluster = await get_cluster(session, id)
    records = await expansion.history(session, cluster.id, limit)
    return ok({"expansions": [_out(r) for r in records]})


@router.get("/clusters/{id}/expansion/{expansionId}", response_model=Envelope[ExpansionDetail])
async def get_expansion(
    id: str, expansionId: str, principal: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    record = await expansion.get_expansion(session, id, expansionId)
    return ok(await _detail(ctx, session, record))


@router.post(
    "/clusters/{id}/expansion/{expansionId}/cancel", response_model=Envelope[ExpansionDetail]
)
async def cancel_expansion(
    id: str, expansionId: str, principal: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    record = await expansion.cancel_expansion(session, principal, id, expansionId)
    return ok(await _detail(ctx, session, record))


@router.delete(
    "/clusters/{id}/nodes/{nodeName}",
    response_model=Envelope[NodeRemovalOut],
    operation_id="clusters_node_remove",
)
async def remove_node(
    id: str,
    nodeName: str,
    principal: AdminUser,
    ctx: Ctx,
    session: Session,
    force: bool = Query(False, description="Delete the pods that will not be evicted in time."),
    drain_seconds: float | None = Query(
        None,
        alias="timeout",
        description="Seconds the drain may take (default: provision.drain_timeout_seconds).",
    ),
) -> dict[str, object]:
    record = await removal.request_removal(
        ctx, session, principal, id, nodeName, force=force, drain_seconds=drain_seconds
    )
    return ok(await _removal(ctx, session, record))


@router.get("/clusters/{id}/node-removals/{removalId}", response_model=Envelope[NodeRemovalOut])
async def get_removal(
    id: str, removalId: str, principal: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    record = await removal.get_removal(session, id, removalId)
    return ok(await _removal(ctx, session, record))
