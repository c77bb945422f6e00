"""Cordon and drain a node through the cluster's API, as `kubectl drain` does: every pod
but DaemonSet and mirror pods is evicted through the Eviction API (so PodDisruptionBudgets
hold: a refused eviction is asked again until the timeout), then the drain waits until
they are gone. With `force`, what would not be evicted in time is deleted instead."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from taichu.kube import ClusterNotFound, KubeClient
from taichu.kube.errors import ClusterError

MAX_PODS = 5000  # a node runs at most a few hundred; a bound, not a policy
RETRY_SECONDS = 2.0
FORCE_GONE_SECONDS = 120.0  # at least this long for evicted pods' grace periods
Obj = dict[str, Any]
Say = Callable[[str], Awaitable[None]]


class DrainFailed(Exception):
    """The node could not be drained; the message names the pods and why."""


@dataclass
class Drained:
    evicted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {"evicted": self.evicted, "deleted": self.deleted, "skipped": self.skipped}


def _key(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def skipped_by_drain(pod: Obj) -> str | None:
    """Why a drain leaves this pod alone (None: it is evicted)."""
    meta = pod.get("metadata") or {}
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        return "mirror pod"
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "DaemonSet" and owner.get("controller"):
            return "DaemonSet"
    return None


async def cordon(kube: KubeClient, node: str, unschedulable: bool = True) -> bool:
    """False when the node is not there."""
    try:
        await kube.patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": unschedulable}})
    except ClusterNotFound:
        return False
    return True


async def pods_on(kube: KubeClient, node: str) -> list[Obj]:
    pods, _ = await kube.list_all(
        "/api/v1/pods", {"fieldSelector": f"spec.nodeName={node}"}, max_items=MAX_PODS
    )
    return pods


async def _evict(kube: KubeClient, pod: Obj) -> str | None:
    """None once evicted (or gone); else why not (a budget refused it)."""
    meta = pod["metadata"]
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/eviction"
    try:
        await kube.create(path, body)
    except ClusterNotFound:
        return None
    except ClusterError as e:
        # 429: a PodDisruptionBudget allows no disruption now; 500: several budgets match.
        if e.cluster_status in (429, 500):
            return e.message
        raise
    return None


async def drain(
    kube: KubeClient,
    node: str,
    seconds: float,
    force: bool,
    say: Say,
) -> Drained:
    result = Drained()
    deadline = time.monotonic() + seconds
    pending: dict[str, Obj] = {}
    for pod in await pods_on(kube, node):
        why = skipped_by_drain(pod)
        if why is not None:
            result.skipped.append(_key(pod))
        else:
            pending[_key(pod)] = pod
    await say(f"{len(pending)} pods to evict, {len(result.skipped)} left (DaemonSet, mirror)")
    refused: dict[str, str] = {}
    while pending:
        refused = {}
        for key, pod in list(pending.items()):
            why = await _evict(kube, pod)
            if why is None:
                result.evicted.append(key)
                del pending[key]
            else:
                refused[key] = why
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(RETRY_SECONDS, max(0.0, deadline - time.monotonic())))
    if pending:
        names = ", ".join(sorted(pending)[:20])
        if not force:
            first = next(iter(refused.values()), "")
            raise DrainFailed(
                f"{len(pending)} pods could not be evicted within {seconds:g}s ({names}): "
                f"{first[:300]}; ask again with force=true to delete them"
            )
        for key, pod in pending.items():
            meta = pod["metadata"]
            with contextlib.suppress(ClusterNotFound):
                await kube.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}")
            result.deleted.append(key)
        await say(f"deleted {len(pending)} pods that would not be evicted: {names}")
    # Evicted pods still end gracefully (their terminationGracePeriodSeconds).
    deadline = max(deadline, time.monotonic() + FORCE_GONE_SECONDS)
    await say(f"{len(result.evicted)} pods evicted; waiting for them to be gone")
    left = await _wait_gone(kube, node, set(result.evicted) | set(result.deleted), deadline)
    if left:
        raise DrainFailed(
            f"{len(left)} evicted pods are still on the node after {seconds:g}s: "
            + ", ".join(sorted(left)[:20])
        )
    return result


async def _wait_gone(kube: KubeClient, node: str, keys: set[str], deadline: float) -> set[str]:
    while True:
        left = {_key(p) for p in await pods_on(kube, node)} & keys
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(RETRY_SECONDS)
