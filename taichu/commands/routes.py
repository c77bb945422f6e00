"""Runtime family: `POST /api/state/command/`, `GET /api/state/history/[{id}/]`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query

from taichu.api.deps import Ctx, CurrentUser
from taichu.api.envelope import PageParams, page_params
from taichu.api.limits import allow_body
from taichu.clusters.runtime_schemas import cluster_uuid
from taichu.commands import service
from taichu.commands.schemas import CommandRequest, CommandResult, CommandSummary, HistoryPage
from taichu.errors import Invalid

router = APIRouter(prefix="/api/state", tags=["runtime: commands"])

# The largest manifest allowed (4 MiB), JSON-escaped (twice its size), and the rest.
MAX_COMMAND_BODY = 8 * 1024 * 1024 + 64 * 1024


def _result(view: service.RunView) -> CommandResult:
    summary = CommandSummary.model_validate(view.run)
    return CommandResult(**summary.model_dump(), stdout=view.stdout, stderr=view.stderr)


@router.post("/command/", response_model=CommandResult)
@allow_body(MAX_COMMAND_BODY)
async def run_command(body: CommandRequest, principal: CurrentUser, ctx: Ctx) -> CommandResult:
    ask = service.CommandAsk(
        cluster_id=str(body.cluster_id),
        command=body.command,
        manifest=body.manifest,
        timeout_seconds=body.timeout_seconds,
    )
    return _result(await service.run_command(ctx, principal, ask))


@router.get("/history/", response_model=HistoryPage)
async def history(
    principal: CurrentUser,
    ctx: Ctx,
    paging: PageParams = Depends(page_params),
    cluster_id: str | None = Query(None, description="Only this cluster's commands"),
    status: Literal["done", "failed", "timeout", "refused"] | None = Query(None),
    since: datetime | None = Query(None, description="Only commands from this time on"),
    user: str | None = Query(None, max_length=64, description="Username (admins only)"),
) -> HistoryPage:
    if cluster_id is not None:
        try:
            cluster_id = cluster_uuid(cluster_id)
        except ValueError as e:
            raise Invalid(f"cluster_id: {e}") from e
    wanted = service.HistoryFilter(cluster_id=cluster_id, status=status, since=since, user=user)
    async with ctx.read_sessions() as session:
        rows, total = await service.history(session, principal, wanted, paging.offset, paging.limit)
    return HistoryPage(
        total=total,
        page=paging.page,
        limit=paging.limit,
        results=[CommandSummary.model_validate(r) for r in rows],
    )


@router.get("/history/{id}/", response_model=CommandResult)
async def history_entry(id: str, principal: CurrentUser, ctx: Ctx) -> CommandResult:
    async with ctx.read_sessions() as session:
        view = await service.one_run(ctx, session, principal, id)
    return _result(view)
