"""Observe endpoints of `/api/v1`: nodes, events, security and autoscaling summaries of a
cluster. Handlers read the cluster row in a short session of their own and release it
before talking to the cluster (no transaction is held across a cluster call)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query

from taichu.api.deps import Ctx, CurrentUser, Session
from taichu.api.envelope import Envelope, PageParams, ok, page_params
from taichu.auth.principal import Principal
from taichu.clusters.models import AutoscalingSettings, Cluster
from taichu.clusters.service import access_for, managed_cluster
from taichu.context import AppContext
from taichu.errors import TaichuError, Unavailable
from taichu.kube import ClusterAccess, KubeClient
from taichu.observe import autoscaling, events, nodes, security
from taichu.observe.cache import ClusterView
from taichu.observe.reads import cluster_reads
from taichu.observe.schemas import (
    AutoscalingPolicies,
    AutoscalingSettingsOut,
    AutoscalingUpdate,
    EventList,
    NodeDetail,
    NodeList,
    SecurityPolicies,
)

router = APIRouter(prefix="/api/v1", tags=["observe"])
T = TypeVar("T")
# Events fall back to the platform's own when the cluster is slow; do not wait long.
EVENTS_WAIT_SECONDS = 10.0


async def _owned(ctx: AppContext, principal: Principal, cluster_id: str) -> Cluster:
    """The cluster, if the caller may read what is in it (see `managed_cluster`); users
    with a bound Kubernetes account read through the runtime family instead."""
    async with ctx.read_sessions() as session:
        return await managed_cluster(session, principal, cluster_id)


async def _cluster(
    ctx: AppContext, principal: Principal, cluster_id: str
) -> tuple[Cluster, ClusterAccess]:
    cluster = await _owned(ctx, principal, cluster_id)
    return cluster, access_for(cluster, ctx)


async def _view(ctx: AppContext, cluster: Cluster, access: ClusterAccess) -> ClusterView:
    try:
        return await ctx.observe.view(cluster.id, access)
    except Unavailable as e:
        raise Unavailable(f"cluster {cluster.name} ({cluster.status}): {e.message}") from e


async def _read(
    ctx: AppContext,
    cluster: Cluster,
    access: ClusterAccess,
    work: Callable[[KubeClient], Awaitable[T]],
) -> T:
    """`work(kube)` against the cluster, bounded in time; the cluster's failures are 503."""
    timeout = ctx.observe.settings.sync_timeout_seconds
    try:
        async with cluster_reads(cluster.name), ctx.kube.client(cluster.id, access) as kube:
            return await asyncio.wait_for(work(kube), timeout)
    except TimeoutError:
        raise Unavailable(f"cluster {cluster.name} did not answer within {timeout:g}s") from None


@router.get("/clusters/{id}/nodes", response_model=Envelope[NodeList])
async def list_nodes(
    id: str,
    principal: CurrentUser,
    ctx: Ctx,
    paging: PageParams = Depends(page_params),
    node_type: str | None = Query(None, alias="type", description="control-plane|worker|master"),
    status: str | None = Query(None, description="ready|not_ready|unknown (or notready)"),
) -> dict[str, Any]:
    wanted_type, wanted_status = nodes.parse_type(node_type), nodes.parse_status(status)
    cluster, access = await _cluster(ctx, principal, id)
    view = await _view(ctx, cluster, access)
    data = nodes.list_nodes(
        view,
        await view.usage(),
        node_type=wanted_type,
        status=wanted_status,
        offset=paging.offset,
        limit=paging.limit,
    )
    return ok({**data, "page": paging.page, "limit": paging.limit})


@router.get("/clusters/{id}/nodes/{nodeName}", response_model=Envelope[NodeDetail])
async def get_node(id: str, nodeName: str, principal: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    cluster, access = await _cluster(ctx, principal, id)
    view = await _view(ctx, cluster, access)
    return ok(nodes.node_detail(view, await view.usage(), nodeName))


@router.get("/clusters/{id}/events", response_model=Envelope[EventList])
async def list_events(
    id: str,
    principal: CurrentUser,
    ctx: Ctx,
    paging: PageParams = Depends(page_params),
    severity: str | None = Query(None, description="info|warning|error|critical"),
    since: datetime | None = Query(None, description="RFC 3339; events last seen since then"),
) -> dict[str, Any]:
    wanted = events.parse_severity(severity)
    since = events.as_utc(since)
    cluster = await _owned(ctx, principal, id)
    note: str | None = None
    try:
        access = access_for(cluster, ctx)
        cluster_events = await ctx.observe.events(
            cluster.id,
            access,
            wait_seconds=min(EVENTS_WAIT_SECONDS, ctx.observe.settings.sync_timeout_seconds),
        )
    except TaichuError as e:
        cluster_events = []
        note = (
            f"cluster {cluster.name} ({cluster.status}): {e.message}; showing the "
            "platform's own events only"
        )
    async with ctx.read_sessions() as session:
        platform = await events.platform_events(session, cluster.id, since)
    data = events.merge_events(
        cluster_events,
        platform,
        severity=wanted,
        since=since,
        offset=paging.offset,
        limit=paging.limit,
    )
    return ok(
        {
            **data,
            "page": paging.page,
            "limit": paging.limit,
            "cluster_events_available": note is None,
            "cluster_events_note": note,
        }
    )


@router.get("/clusters/{id}/security-policies", response_model=Envelope[SecurityPolicies])
async def get_security_policies(id: str, principal: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    cluster, access = await _cluster(ctx, principal, id)
    return ok(await _read(ctx, cluster, access, security.security_policies))


@router.get("/clusters/{id}/autoscaling-policies", response_model=Envelope[AutoscalingPolicies])
async def get_autoscaling_policies(id: str, principal: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    cluster, access = await _cluster(ctx, principal, id)
    detected = await _read(ctx, cluster, access, autoscaling.detect)
    async with ctx.read_sessions() as session:
        stored = await session.get(AutoscalingSettings, cluster.id)
    return ok(autoscaling.policies(detected, stored))


@router.put("/clusters/{id}/autoscaling-policies", response_model=Envelope[AutoscalingSettingsOut])
async def put_autoscaling_policies(
    id: str, body: AutoscalingUpdate, principal: CurrentUser, session: Session
) -> dict[str, Any]:
    cluster = await managed_cluster(session, principal, id)
    row = await autoscaling.store_settings(session, cluster.id, body.model_dump())
    return ok(AutoscalingSettingsOut.model_validate(row).model_dump(mode="json"))
