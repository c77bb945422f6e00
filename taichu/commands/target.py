"""Where and as whom one kubectl run goes: the caller's runtime identity for the cluster
(their bound service-account token; an admin without one: the platform's credentials),
with the cluster's address and TLS trust exactly as the platform itself uses them."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from sqlalchemy import select

from taichu.auth.principal import Principal
from taichu.clusters.bindings import identity_for
from taichu.clusters.models import Cluster, K8sAccountBinding
from taichu.context import AppContext
from taichu.kube import PLATFORM_IDENTITY, ClusterAccess, render_kubeconfig
from taichu.kube.targets import TargetPolicy, open_checked

log = logging.getLogger("taichu.commands")


@dataclass(frozen=True)
class RunTarget:
    access: ClusterAccess
    identity: str  # whom it runs as, for the history: the bound subject, or "platform"
    namespace: str | None  # the binding's namespace: kubectl's default


async def target_for(app: AppContext, principal: Principal, cluster: Cluster) -> RunTarget:
    """403 (bind an account) for a non-admin without a binding: see `identity_for`."""
    async with app.read_sessions() as session:
        ident = await identity_for(app, session, principal, cluster)
        namespace = None
        if ident.key != PLATFORM_IDENTITY:
            namespace = await session.scalar(
                select(K8sAccountBinding.namespace).where(
                    K8sAccountBinding.user_id == principal.user_id,
                    K8sAccountBinding.cluster_id == cluster.id,
                )
            )
    identity = "platform" if ident.key == PLATFORM_IDENTITY else ident.subject
    return RunTarget(ident.access, identity[:255], namespace)


async def _connects(server: str, policy: TargetPolicy | None, wait_seconds: float) -> bool:
    """Whether `server` takes a connection, under the same rules as the run's tunnels (a
    refused address is not probed)."""
    parts = urlsplit(server)
    try:
        _, writer = await open_checked(
            parts.hostname or "", parts.port or 443, policy, wait_seconds
        )
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def kubeconfig_for(target: RunTarget, connect_timeout: float, proxy_url: str) -> str:
    """A kubeconfig of one server: kubectl knows no fallbacks, so with several API servers
    (an HA control plane) the first that takes a connection is used, in the platform's
    order; if none does, the first (kubectl then says why). kubectl goes through
    `proxy_url` (the run's `taichu.commands.proxy`), which checks every address it reaches."""
    access = target.access
    server = access.server
    if access.fallback_servers:
        for candidate in access.servers:
            if await _connects(candidate, access.connect_policy, connect_timeout):
                server = candidate
                break
        if server != access.server:
            log.info("kubectl run: %s cannot be connected to, using %s", access.server, server)
    single = replace(access, server=server, fallback_servers=())
    return render_kubeconfig(single, "taichu", target.namespace, proxy_url=proxy_url)
