"""`GET /api/v1/artifacts`: the bundles of the artifact directory (signed-in users read,
as the machine inventory)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends

from taichu.api.deps import Ctx, CurrentUser
from taichu.api.envelope import Envelope, PageParams, ok, page_params
from taichu.artifacts.schemas import ArtifactList, ArtifactSummary
from taichu.artifacts.service import artifacts_dir, list_bundles

router = APIRouter(prefix="/api/v1", tags=["artifacts"])


@router.get("/artifacts", response_model=Envelope[ArtifactList])
async def list_artifacts(
    _: CurrentUser, ctx: Ctx, paging: PageParams = Depends(page_params)
) -> dict[str, object]:
    settings = ctx.settings
    bundles = await asyncio.to_thread(
        list_bundles,
        artifacts_dir(settings),
        max_manifest_bytes=settings.artifacts.max_manifest_bytes,
    )
    page = bundles[paging.offset : paging.offset + paging.limit]
    items = [ArtifactSummary.of(b).model_dump(mode="json") for b in page]
    return ok(
        {"artifacts": items, "total": len(bundles), "page": paging.page, "limit": paging.limit}
    )
