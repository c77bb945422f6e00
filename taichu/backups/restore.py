"""The restore engine: apply a verified archive to a cluster, phase by phase.

Within a phase objects are created in parallel (bounded); phases run in the order of
`rules.PHASES`. Every created object carries the restore's id in an annotation, so a
restore that is run again after an interruption counts what it created the first time
as its own, and skips (or patches) only what was there before it. A part of the archive
is recorded as done once all its objects are; a resumed run skips done parts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

from taichu.backups import rules
from taichu.backups.collect import first_error
from taichu.backups.reader import VerifiedArchive
from taichu.errors import TaichuError, Unavailable
from taichu.kube import (
    ApiResource,
    ClusterConflict,
    ClusterNotFound,
    ClusterUnreachable,
    KubeClient,
)

Obj = dict[str, Any]
Outcome = Literal["created", "updated", "skipped", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("created", "updated", "skipped", "failed")
Report = Callable[["RestoreState", bool], Awaitable[None]]
_TRANSIENT_TRIES = 4


@dataclass
class RestoreSpec:
    restore_id: str
    namespace_mapping: dict[str, str] = field(default_factory=dict)
    included_namespaces: list[str] = field(default_factory=list)  # source namespaces
    existing_policy: Literal["skip", "update"] = "skip"
    dry_run: bool = False
    concurrency: int = 32
    crd_timeout: float = 120.0
    namespace_timeout: float = 180.0
    max_errors: int = 50

    def target(self, namespace: str) -> str:
        return self.namespace_mapping.get(namespace, namespace)


@dataclass
class RestoreState:
    """What the record shows; `done_*` only covers finished parts (what a resumed run
    keeps), the rest is recomputed from the parts still in flight."""

    planned: int = 0  # objects in the parts to restore
    step: str = "Verifying the archive"
    done_parts: set[int] = field(default_factory=set)
    done_items: int = 0
    done_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[Obj] = field(default_factory=list)
    # Objects of a part that a namespace-limited restore leaves out (not counted).
    done_filtered: int = 0
    live_filtered: dict[int, int] = field(default_factory=dict)
    live_items: dict[int, int] = field(default_factory=dict)
    live_counts: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)

    @classmethod
    def resume(cls, checkpoint: Obj) -> RestoreState:
        return cls(
            done_parts=set(checkpoint.get("done_parts") or []),
            done_items=int(checkpoint.get("done_items") or 0),
            done_counts=dict(checkpoint.get("done_counts") or {}),
            done_filtered=int(checkpoint.get("done_filtered") or 0),
            errors=[
                e
                for e in checkpoint.get("errors") or []
                if e.get("part") in set(checkpoint.get("done_parts") or [])
            ],
        )

    @property
    def total(self) -> int:
        return self.planned - self.done_filtered - sum(self.live_filtered.values())

    @property
    def items_done(self) -> int:
        return self.done_items + sum(self.live_items.values())

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        merged = {k: dict(v) for k, v in self.done_counts.items()}
        for per_part in self.live_counts.values():
            _merge(merged, per_part)
        for per_kind in merged.values():
            per_kind["restored"] = per_kind.get("created", 0) + per_kind.get("updated", 0)
        return dict(sorted(merged.items()))

    def checkpoint(self) -> Obj:
        return {
            "done_parts": sorted(self.done_parts),
            "done_items": self.done_items,
            "done_counts": self.done_counts,
            "done_filtered": self.done_filtered,
            "errors": [e for e in self.errors if e.get("part") in self.done_parts],
        }

    def count(self, part: int, kind: str, outcome: Outcome) -> None:
        per_kind = self.live_counts.setdefault(part, {}).setdefault(
            kind, dict.fromkeys(OUTCOMES, 0)
        )
        per_kind[outcome] += 1
        self.live_items[part] = self.live_items.get(part, 0) + 1

    def finish_part(self, part: int) -> None:
        _merge(self.done_counts, self.live_counts.pop(part, {}))
        self.done_items += self.live_items.pop(part, 0)
        self.done_filtered += self.live_filtered.pop(part, 0)
        self.done_parts.add(part)

    @property
    def failed(self) -> int:
        return sum(v.get("failed", 0) for v in self.counts.values())


def _merge(into: dict[str, dict[str, int]], other: dict[str, dict[str, int]]) -> None:
    for kind, values in other.items():
        target = into.setdefault(kind, dict.fromkeys(OUTCOMES, 0))
        for outcome, n in values.items():
            target[outcome] = target.get(outcome, 0) + n


def _resource(part: Obj) -> ApiResource:
    return ApiResource(
        group=part["group"],
        version=part["version"],
        name=part["resource"],
        kind=part["kind"],
        namespaced=bool(part["namespaced"]),
        verbs=frozenset(),
    )


class Restorer:
    def __init__(
        self,
        kube: KubeClient,
        archive: VerifiedArchive,
        handle: BinaryIO,
        spec: RestoreSpec,
        state: RestoreState,
        report: Report,
    ) -> None:
        self.kube, self.archive, self.handle = kube, archive, handle
        self.spec, self.state, self.report = spec, state, report
        self.parts: list[Obj] = []
        self.owner_types: set[tuple[str, str, str | None]] = set()
        self.selector_services: set[tuple[str, str]] = set()
        self._included_crds: set[tuple[str, str]] = set()
        self._last_report = 0.0

    # -- planning -------------------------------------------------------------------------

    def plan(self) -> None:
        included = set(self.spec.included_namespaces)
        custom_in_scope = {
            (p["group"], p["resource"])
            for p in self.archive.parts
            if p.get("custom") and (not included or p["namespace"] in included)
        }
        for part in self.archive.parts:
            group, resource, namespace = part["group"], part["resource"], part["namespace"]
            if group in rules.NEVER_GROUPS or (group, resource) in rules.NEVER:
                continue
            if included and namespace is not None and namespace not in included:
                continue
            if (
                included
                and namespace is None
                and (group, resource)
                not in (
                    ("", "namespaces"),
                    ("", "persistentvolumes"),
                    (rules.CRD_GROUP, "customresourcedefinitions"),
                )
            ):
                continue  # a namespace restore brings only what its namespaces need
            self.parts.append(part)
            self.owner_types.add((group, part["kind"], namespace))
        self._included_crds = custom_in_scope
        self.state.planned = sum(p["count"] for p in self.parts)
        for part in self.parts:
            if (part["group"], part["resource"]) == ("", "services"):
                for obj in self.archive.objects(self.handle, part["index"]):
                    if (obj.get("spec") or {}).get("selector"):
                        md = obj["metadata"]
                        self.selector_services.add((md.get("namespace"), md.get("name")))

    def _in_scope(self, part: Obj, obj: Obj) -> bool:
        """Cluster-scoped objects a namespace-limited restore needs."""
        included = set(self.spec.included_namespaces)
        if not included or part["namespace"] is not None:
            return True
        key = (part["group"], part["resource"])
        if key == ("", "namespaces"):
            return obj["metadata"]["name"] in included
        if key == ("", "persistentvolumes"):
            claim = (obj.get("spec") or {}).get("claimRef") or {}
            return claim.get("namespace") in included
        spec = obj.get("spec") or {}
        return (spec.get("group"), (spec.get("names") or {}).get("plural")) in self._included_crds

    # -- running --------------------------------------------------------------------------

    async def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_report >= 1.0:
            self._last_report = now
            await self.report(self.state, force)

    async def run(self) -> None:
        self.plan()
        for number, (step, _) in enumerate(rules.PHASES):
            parts = sorted(
                (
                    p
                    for p in self.parts
                    if rules.phase_of(p["group"], p["resource"], bool(p.get("custom"))) == number
                ),
                key=lambda p: (rules.order_in_phase(p["group"], p["resource"]), p["index"]),
            )
            self.state.step = step + (" (dry run)" if self.spec.dry_run else "")
            await self._report(force=True)
            if number == 0 and not self.spec.dry_run:
                await self._wait_terminating_namespaces()
            await self._run_parts([p for p in parts if p["index"] not in self.state.done_parts])
            if number == 0 and not self.spec.dry_run:
                await self._ensure_namespaces()
                await self._wait_crds(
                    [p for p in parts if p["resource"] == "customresourcedefinitions"]
                )
        self.state.step = "Completed" + (" (dry run)" if self.spec.dry_run else "")
        await self._report(force=True)

    async def _run_parts(self, parts: list[Obj]) -> None:
        gate = asyncio.Semaphore(self.spec.concurrency)
        pending: dict[int, int] = {}
        reading: set[int] = set()
        # Parts with an object that was neither applied nor counted (the restore stopped):
        # never recorded as done, so a resumed run applies them again.
        broken: set[int] = set()

        def settle(index: int) -> None:
            if index not in reading and index not in broken and pending.get(index, 0) == 0:
                pending.pop(index, None)
                self.state.finish_part(index)

        async def apply(part: Obj, obj: Obj) -> None:
            index = part["index"]
            try:
                await self._apply(part, obj)
            except BaseException:
                broken.add(index)
                raise
            finally:
                gate.release()
                pending[index] -= 1
                settle(index)

        async with first_error(), asyncio.TaskGroup() as group:
            for part in parts:
                index = part["index"]
                pending[index] = 0
                reading.add(index)
                for obj in self.archive.objects(self.handle, index):
                    if not self._in_scope(part, obj):
                        filtered = self.state.live_filtered
                        filtered[index] = filtered.get(index, 0) + 1
                        continue
                    await gate.acquire()
                    pending[index] += 1
                    group.create_task(apply(part, obj))
                    await self._report()
                reading.discard(index)
                settle(index)

    # -- one object -----------------------------------------------------------------------

    async def _apply(self, part: Obj, obj: Obj) -> None:
        kind = str(obj.get("kind") or part["kind"])
        index = part["index"]
        reason = rules.skip_reason(obj, self.owner_types, self.selector_services)
        if reason is not None:
            self.state.count(index, kind, "skipped")
            return
        body = rules.transform(obj, self.spec.namespace_mapping, self.spec.restore_id)
        metadata = body["metadata"]
        resource = _resource(part)
        namespace = metadata.get("namespace") if resource.namespaced else None
        item = resource.path(namespace, metadata["name"])
        try:
            outcome = await self._retrying(
                lambda: (
                    self._dry_run(item)
                    if self.spec.dry_run
                    else self._create(resource.path(namespace), item, body)
                ),
                custom=bool(part.get("custom")),
            )
        except ClusterUnreachable:
            raise  # the whole restore stops; a retry resumes it
        except TaichuError as e:
            outcome = "failed"
            if len(self.state.errors) < self.spec.max_errors:
                self.state.errors.append(
                    {
                        "part": index,
                        "kind": kind,
                        "namespace": namespace,
                        "name": metadata.get("name"),
                        "error": e.message[:500],
                    }
                )
        self.state.count(index, kind, outcome)

    async def _retrying(self, call: Callable[[], Awaitable[Outcome]], custom: bool) -> Outcome:
        delay = 0.5
        deadline = time.monotonic() + self.spec.crd_timeout
        for attempt in range(1, 1_000):
            try:
                return await call()
            except ClusterUnreachable:
                raise
            except ClusterNotFound:
                # A just-Established CRD's endpoint may take a moment to be served.
                if not custom or self.spec.dry_run or time.monotonic() > deadline:
                    raise
            except Unavailable:
                if attempt >= _TRANSIENT_TRIES:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    async def _create(self, collection: str, item: str, body: Obj) -> Outcome:
        try:
            await self.kube.create(collection, body)
            return "created"
        except ClusterConflict:
            pass
        try:
            existing = await self.kube.get(item)
        except ClusterNotFound:
            await self.kube.create(collection, body)  # deleted in between
            return "created"
        if rules.restored_by(existing) == self.spec.restore_id:
            return "created"  # by this restore, before it was interrupted
        if self.spec.existing_policy == "skip":
            return "skipped"
        await self.kube.patch(item, body, "merge")
        return "updated"

    async def _dry_run(self, item: str) -> Outcome:
        try:
            await self.kube.get(item)
        except ClusterNotFound:
            return "created"
        return "skipped" if self.spec.existing_policy == "skip" else "updated"

    # -- namespaces and CRDs ----------------------------------------------------------------

    def _target_namespaces(self) -> set[str]:
        return {self.spec.target(p["namespace"]) for p in self.parts if p["namespace"]}

    async def _wait_terminating_namespaces(self) -> None:
        """A namespace deleted just before the restore may still be terminating: objects
        created in it would be refused (or removed with it)."""
        deadline = time.monotonic() + self.spec.namespace_timeout
        for name in sorted(self._target_namespaces()):
            while True:
                try:
                    ns = await self.kube.get(f"/api/v1/namespaces/{name}")
                except ClusterNotFound:
                    break
                if (ns.get("status") or {}).get("phase") != "Terminating":
                    break
                if time.monotonic() > deadline:
                    raise Unavailable(
                        f"namespace {name} is still terminating after "
                        f"{self.spec.namespace_timeout:g}s; retry the restore "
                        "once it is gone"
                    )
                self.state.step = f"Waiting for namespace {name} to finish terminating"
                await self._report()
                await asyncio.sleep(1.0)

    async def _ensure_namespaces(self) -> None:
        """Namespaces the archive has objects in but no Namespace object for (a label
        selector left it out, or a mapping renames it)."""
        for name in sorted(self._target_namespaces()):
            body = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "annotations": {rules.RESTORED_BY: self.spec.restore_id},
                },
            }
            with contextlib.suppress(ClusterConflict):
                await self.kube.create("/api/v1/namespaces", body)

    async def _wait_crds(self, parts: list[Obj]) -> None:
        names = [
            obj["metadata"]["name"]
            for part in parts
            for obj in self.archive.objects(self.handle, part["index"])
            if self._in_scope(part, obj)
        ]
        deadline = time.monotonic() + self.spec.crd_timeout
        for name in names:
            self.state.step = f"Waiting for CRD {name} to be Established"
            await self._report()
            while True:
                try:
                    crd = await self.kube.get(
                        f"/apis/{rules.CRD_GROUP}/v1/customresourcedefinitions/{name}"
                    )
                except ClusterNotFound:
                    break  # failed to restore: its error is counted already
                conditions = (crd.get("status") or {}).get("conditions") or []
                if any(
                    c.get("type") == "Established" and c.get("status") == "True" for c in conditions
                ):
                    break
                if time.monotonic() > deadline:
                    break  # its custom resources will fail with a clear 404 each
                await asyncio.sleep(0.2)
