"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from taichu.api.deps import Ctx, bearer_scheme
from taichu.auth import service as auth_service
from taichu.auth.principal import refuse_bootstrap
from taichu.errors import Forbidden, Unauthorized, Unavailable
from taichu.jobs import models as job_models
from taichu.jobs.service import counts_by_status

router = APIRouter(tags=["system"])


class HealthOut(BaseModel):
    status: str


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=HealthOut)
async def readyz(ctx: Ctx) -> HealthOut:
    """The process can serve: its database answers."""
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as e:
        raise Unavailable("database unreachable") from e
    return HealthOut(status="ok")


async def _scraper(
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    if credentials is None:
        raise Unauthorized("Authentication required: send Authorization: Bearer <token>")
    expected = ctx.settings.metrics_token
    if expected and hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        return
    async with ctx.read_sessions() as session:
        principal = await auth_service.authenticate(session, ctx.jwt_key, credentials.credentials)
    refuse_bootstrap(principal)  # the bootstrap admin has no powers until it changes it
    # Route names, traffic and job counts are operator data, not every user's.
    if not principal.is_admin:
        raise Forbidden("Admin role or TAICHU_METRICS_TOKEN required to read /metrics")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    dependencies=[Depends(_scraper)],
)
async def metrics(ctx: Ctx) -> Response:
    """Prometheus metrics; an admin's JWT or TAICHU_METRICS_TOKEN as bearer token."""
    collector = ctx.metrics
    async with ctx.read_sessions() as session:
        counts = await counts_by_status(session)
    for state in job_models.ALL_STATES:
        collector.jobs.labels(state).set(counts.get(state, 0))
    return Response(generate_latest(collector.registry), media_type=CONTENT_TYPE_LATEST)
