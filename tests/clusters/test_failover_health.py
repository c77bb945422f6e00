"""A cluster with further API servers (`fallback_api_servers`, what the provision register
step writes for a created HA cluster) stays healthy to the health monitor when its first
API server is stopped: the stored servers reach the client through `access_for`."""

from __future__ import annotations

from taichu.clusters import health
from taichu.clusters.models import Cluster
from taichu.clusters.service import NewCluster, access_for, insert_cluster, validated_access
from taichu.context import AppContext
from taichu.db.session import transaction
from tests.support.hostile_cluster import HostileCluster


async def _status(app: AppContext, cluster_id: str) -> tuple[str, str | None]:
    async with app.read_sessions() as session:
        cluster = await session.get(Cluster, cluster_id)
        assert cluster is not None
        return cluster.status, cluster.last_probe_error


async def test_the_monitor_fails_over_to_the_stored_api_servers(ctx: AppContext) -> None:
    with HostileCluster() as first, HostileCluster(ca=first.ca) as second:
        new = NewCluster(name="ha", description="", kubeconfig=first.kubeconfig(), labels={})
        access = await validated_access(ctx, new, None)
        async with transaction(ctx.sessions) as session:
            cluster = await insert_cluster(
                session, ctx.box, new, access, source="manual", status="unknown", owner=None
            )
            cluster_id = cluster.id
        first.stop()

        # Only the stopped server known: no answer.
        await health.probe_and_record(ctx, [cluster_id])
        status, error = await _status(ctx, cluster_id)
        assert status != "healthy" and error and first.server in error, (status, error)

        async with transaction(ctx.sessions) as session:
            cluster = await session.get(Cluster, cluster_id)
            assert cluster is not None
            cluster.fallback_api_servers = [second.server]
        async with ctx.read_sessions() as session:
            stored = await session.get(Cluster, cluster_id)
            assert stored is not None
            assert access_for(stored, ctx).servers == (first.server, second.server)

        await health.probe_and_record(ctx, [cluster_id])
        assert await _status(ctx, cluster_id) == ("healthy", None)
        assert second.hits["/api/v1/nodes"] >= 1
