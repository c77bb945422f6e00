"""How the platform talks to Kubernetes clusters.

    access = parse_kubeconfig(text)                 # or access_from_token(server, token)
    async with manager.client(cluster_id, access) as kube:
        nodes, rv = await kube.list_all("/api/v1/nodes")

Everything raises `taichu.errors` only; the kube-specific subclasses are in `errors`.
"""

from taichu.kube.access import ClusterAccess, access_from_token
from taichu.kube.client import KubeClient
from taichu.kube.discovery import ApiResource, Discovery
from taichu.kube.errors import (
    ClusterUnreachable,
    CredentialsRejected,
    ResourceExpired,
    TLSVerificationFailed,
)
from taichu.kube.kubeconfig import parse_kubeconfig, render_kubeconfig
from taichu.kube.manager import PLATFORM_IDENTITY, ConnectionManager
from taichu.kube.watch import Watch, WatchEvent

__all__ = [
    "PLATFORM_IDENTITY",
    "ApiResource",
    "ClusterAccess",
    "ClusterUnreachable",
    "ConnectionManager",
    "CredentialsRejected",
    "Discovery",
    "KubeClient",
    "ResourceExpired",
    "TLSVerificationFailed",
    "Watch",
    "WatchEvent",
    "access_from_token",
    "parse_kubeconfig",
    "render_kubeconfig",
]
