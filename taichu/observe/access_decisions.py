"""Recent authorization answers (`kubectl auth can-i`) per cluster identity.

Runtime reads serve data from the platform's watch-fed cache, but must show a user only
what the cluster's RBAC lets *their* identity see. The cluster stays the judge: before a
read, the identity asks it (a SelfSubjectAccessReview). The answer is remembered for
`ttl_seconds` so that a busy page does not ask on every request; a revoked permission
therefore takes effect within that time, a granted one at once after it.
"""

from __future__ import annotations

import asyncio
import time

from taichu.kube import KubeClient

# (who: cluster id + access fingerprint, verb, group, resource, namespace)
DecisionKey = tuple[str, str, str, str, str | None]


class AccessDecisions:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._answers: dict[DecisionKey, tuple[bool, float]] = {}
        # One question in flight per key: when an answer expires under load, the requests
        # that need it share one review instead of each sending its own.
        self._asking: dict[DecisionKey, asyncio.Task[bool]] = {}

    async def allowed(
        self,
        kube: KubeClient,
        who: str,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str | None = None,
    ) -> bool:
        """Whether the identity behind `kube` (named `who`) may `verb` the resource."""
        key: DecisionKey = (who, verb, group, resource, namespace)
        known = self._answers.get(key)
        if known is not None and time.monotonic() - known[1] < self.ttl_seconds:
            return known[0]
        task = self._asking.get(key)
        if task is None:
            task = asyncio.create_task(self._ask(kube, key), name="observe:can-i")
            self._asking[key] = task
            task.add_done_callback(lambda _: self._asking.pop(key, None))
        return await asyncio.shield(task)  # one waiter giving up does not cancel the rest

    async def _ask(self, kube: KubeClient, key: DecisionKey) -> bool:
        _, verb, group, resource, namespace = key
        answer = await kube.self_subject_access_review(verb, resource, group, namespace)
        now = time.monotonic()
        if len(self._answers) >= self.max_entries:
            self._forget_expired(now)
        self._answers[key] = (answer, now)
        return answer

    def _forget_expired(self, now: float) -> None:
        self._answers = {k: v for k, v in self._answers.items() if now - v[1] < self.ttl_seconds}
        while len(self._answers) >= self.max_entries:  # all fresh: drop the oldest
            del self._answers[next(iter(self._answers))]
