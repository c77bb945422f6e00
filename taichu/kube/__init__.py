"""How the platform talks to Kubernetes clusters.

    access = parse_kubeconfig(text)                 # or access_from_token(server, token)
    async with manager.client(cluster_id, access) as kube:
        nodes, rv = await kube.list_all("/api/v1/nodes")

Everything raises `taichu.errors` only: what a cluster answers (or fails to) is a
`ClusterError` (502; 503 for an unreachable or overloaded cluster), never the caller's
401/403/404 unless a service passes one on deliberately. Every answer is read within a
size bound per kind of request and every list within page, item and time bounds
(`ReadLimits`), and all answers of a process at once within one budget (`ReadBudget`).
"""

from taichu.kube.access import ClusterAccess, access_from_token
from taichu.kube.budget import ReadBudget
from taichu.kube.client import KubeClient
from taichu.kube.discovery import ApiResource, Discovery
from taichu.kube.errors import (
    AnswerTooLarge,
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterRejected,
    ClusterUnavailable,
    ClusterUnreachable,
    CredentialsRejected,
    ListTooLong,
    MalformedAnswer,
    ReadBudgetExhausted,
    ResourceExpired,
    TLSVerificationFailed,
)
from taichu.kube.kubeconfig import parse_kubeconfig, render_kubeconfig
from taichu.kube.limits import ReadLimits
from taichu.kube.manager import PLATFORM_IDENTITY, ConnectionManager
from taichu.kube.watch import Watch, WatchEvent

__all__ = [
    "PLATFORM_IDENTITY",
    "AnswerTooLarge",
    "ApiResource",
    "ClusterAccess",
    "ClusterConflict",
    "ClusterError",
    "ClusterForbidden",
    "ClusterNotFound",
    "ClusterRejected",
    "ClusterUnavailable",
    "ClusterUnreachable",
    "ConnectionManager",
    "CredentialsRejected",
    "Discovery",
    "KubeClient",
    "ListTooLong",
    "MalformedAnswer",
    "ReadBudget",
    "ReadBudgetExhausted",
    "ReadLimits",
    "ResourceExpired",
    "TLSVerificationFailed",
    "Watch",
    "WatchEvent",
    "access_from_token",
    "parse_kubeconfig",
    "render_kubeconfig",
]
