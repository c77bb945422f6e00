"""A cluster's security posture, read from the cluster itself: Pod Security labels of its
namespaces, NetworkPolicies, RBAC, and audit logging from the API server's flags.

Nothing is guessed: what cannot be seen (an API server that does not run as a pod, so its
flags are invisible) is reported as unknown, with a note saying why.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from taichu.kube import KubeClient
from taichu.observe.reads import (
    argv_tokens,
    count,
    last_flag,
    list_items,
    parse_flags,
    program_index,
    served_version,
)

Obj = dict[str, Any]
LEVELS = ("privileged", "baseline", "restricted")  # least to most strict
PSA_PREFIX = "pod-security.kubernetes.io/"
NOT_VISIBLE = (
    "the kube-apiserver's flags are not visible (it does not run as a pod in "
    "kube-system), so audit logging cannot be determined"
)


def namespace_security(ns: Obj) -> dict[str, Any]:
    labels = (ns.get("metadata") or {}).get("labels") or {}
    enforce = labels.get(PSA_PREFIX + "enforce")
    labelled = enforce in LEVELS
    return {
        "namespace": (ns.get("metadata") or {}).get("name", ""),
        # Without the label the admission plugin enforces its default, "privileged" unless
        # the API server's admission configuration says otherwise (not visible here).
        "enforce": enforce if labelled else "privileged",
        "labelled": labelled,
        "enforce_version": labels.get(PSA_PREFIX + "enforce-version"),
        "audit": labels.get(PSA_PREFIX + "audit"),
        "warn": labels.get(PSA_PREFIX + "warn"),
    }


def predominant(levels: list[str]) -> str:
    """The level most namespaces enforce; a tie goes to the least strict of the tied ones
    (the posture is only as strong as its weak part)."""
    if not levels:
        return "privileged"
    counts = Counter(levels)
    best = max(counts.values())
    return next(level for level in LEVELS if counts.get(level) == best)


def audit_from_flags(flags: dict[str, list[str]] | None) -> dict[str, Any]:
    if flags is None:
        return {
            "audit_logging_enabled": None,
            "audit_logging_mode": "unknown",
            "audit_logging_backends": [],
            "audit_logging_note": NOT_VISIBLE,
        }
    policy = last_flag(flags, "audit-policy-file")
    backends = []
    if last_flag(flags, "audit-log-path"):
        backends.append("log")
    if last_flag(flags, "audit-webhook-config-file"):
        backends.append("webhook")
    if not policy or not backends:
        missing = "--audit-policy-file" if not policy else "--audit-log-path or a webhook"
        return {
            "audit_logging_enabled": False,
            "audit_logging_mode": "disabled",
            "audit_logging_backends": backends,
            "audit_logging_note": f"the kube-apiserver runs without {missing}",
        }
    # The documented defaults of kube-apiserver apply when the flag is absent.
    if "log" in backends:
        mode = last_flag(flags, "audit-log-mode") or "blocking"
    else:
        mode = last_flag(flags, "audit-webhook-mode") or "batch"
    return {
        "audit_logging_enabled": True,
        "audit_logging_mode": mode,
        "audit_logging_backends": backends,
        "audit_logging_note": None,
    }


def apiserver_flags(pods: list[Obj]) -> dict[str, list[str]] | None:
    """Flags of the kube-apiserver among kube-system's pods (kubeadm's static pod, or any
    pod whose container runs the kube-apiserver binary)."""
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            tokens = argv_tokens(container)
            start = program_index(tokens, "kube-apiserver")
            if start is not None:
                return parse_flags(tokens[start + 1 :])
    return None


async def _namespaces(kube: KubeClient) -> list[Obj]:
    return [ns async for ns in list_items(kube, "/api/v1/namespaces", metadata_only=True)]


async def _kube_system_pods(kube: KubeClient) -> list[Obj]:
    return [p async for p in list_items(kube, "/api/v1/namespaces/kube-system/pods")]


async def _rbac(kube: KubeClient) -> tuple[bool, int, int]:
    version = await served_version(kube, "rbac.authorization.k8s.io")
    if version is None:
        return False, 0, 0
    base = f"/apis/rbac.authorization.k8s.io/{version}"
    roles, cluster_roles = await asyncio.gather(
        count(kube, f"{base}/roles"), count(kube, f"{base}/clusterroles")
    )
    return True, roles, cluster_roles


async def _network_policies(kube: KubeClient) -> tuple[bool, int]:
    version = await served_version(kube, "networking.k8s.io")
    if version is None:
        return False, 0
    return True, await count(kube, f"/apis/networking.k8s.io/{version}/networkpolicies")


async def security_policies(kube: KubeClient) -> dict[str, Any]:
    namespaces, pods, (rbac, roles, cluster_roles), (np_served, np_count) = await asyncio.gather(
        _namespaces(kube), _kube_system_pods(kube), _rbac(kube), _network_policies(kube)
    )
    breakdown = sorted((namespace_security(ns) for ns in namespaces), key=lambda n: n["namespace"])
    levels = [n["enforce"] for n in breakdown]
    return {
        "pod_security_standard": predominant(levels),
        "pod_security_levels": {level: levels.count(level) for level in LEVELS},
        "namespaces": breakdown,
        "network_policies_enabled": np_served and np_count > 0,
        "network_policies_count": np_count,
        "rbac_enabled": rbac,
        "rbac_roles_count": roles + cluster_roles,
        "roles_count": roles,
        "cluster_roles_count": cluster_roles,
        **audit_from_flags(apiserver_flags(pods)),
    }
