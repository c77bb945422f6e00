"""The backup engine: discover what the cluster serves, list it in pages, strip each
object, and stream it into an archive. Nothing here holds more than a page per listing
in memory, whatever the size of the cluster."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from taichu.backups import rules
from taichu.backups.writer import ArchiveWriter, PartWriter
from taichu.kube import ApiResource, KubeClient, ResourceExpired

Progress = Callable[[int, int, str], Awaitable[None]]
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_MAX_RELISTS = 3


@dataclass
class BackupSpec:
    backup_type: str  # full | namespaces
    included_namespaces: list[str] = field(default_factory=list)
    excluded_namespaces: list[str] = field(default_factory=list)
    label_selector: str | None = None
    include_cluster_resources: bool | None = None  # None: full -> all, namespaces -> related
    page_size: int = 500
    concurrency: int = 4

    @property
    def all_cluster_resources(self) -> bool:
        if self.include_cluster_resources is None:
            return self.backup_type == "full"
        return self.include_cluster_resources


@dataclass
class Unit:
    """One listing: a resource type, cluster-wide or in one namespace."""

    resource: ApiResource
    custom: bool
    namespace: str | None = None
    filter: Callable[[dict[str, Any]], bool] | None = None
    labelled: bool = True  # whether the label selector applies

    @property
    def key(self) -> str:
        return f"{self.resource.group_version}/{self.resource.name}"


@dataclass
class BackupResult:
    counts: dict[str, int]
    total: int
    resources: list[dict[str, Any]]
    skipped_resources: list[str]
    warnings: list[str]


@asynccontextmanager
async def first_error() -> AsyncIterator[None]:
    """Raise a task group's first error itself: "unhandled errors in a TaskGroup" tells an
    operator nothing, "cannot reach https://...: connection refused" does."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves: list[BaseException] = []

        def walk(error: BaseException) -> None:
            if isinstance(error, BaseExceptionGroup):
                for inner in error.exceptions:
                    walk(inner)
            else:
                leaves.append(error)

        walk(group)
        chosen = next((e for e in leaves if not isinstance(e, asyncio.CancelledError)), leaves[0])
        raise chosen from None


class Collector:
    def __init__(
        self, kube: KubeClient, writer: ArchiveWriter, spec: BackupSpec, progress: Progress
    ) -> None:
        self.kube, self.writer, self.spec, self.progress = kube, writer, spec, progress
        self.done = 0
        self.estimate = 0
        self.counts: dict[str, int] = {}
        self.custom_seen: set[tuple[str, str]] = set()  # (group, plural) with objects
        self.claimed_pvs: set[str] = set()
        self._last_report = 0.0
        self._step = "Listing resources"

    # -- selection ------------------------------------------------------------------------

    def _namespace_ok(self, namespace: str | None) -> bool:
        if namespace is None:
            return True
        if self.spec.included_namespaces and namespace not in self.spec.included_namespaces:
            return False
        return namespace not in self.spec.excluded_namespaces

    def _units(
        self, resources: list[ApiResource], custom: set[tuple[str, str]]
    ) -> tuple[list[Unit], list[Unit]]:
        """(namespaced units, cluster-scoped units); the latter are listed second, as in
        `namespaces` backups they depend on what the former found."""
        spec = self.spec
        namespaced: list[Unit] = []
        cluster: list[Unit] = []
        for r in resources:
            is_custom = (r.group, r.name) in custom
            if r.namespaced:
                if spec.included_namespaces:
                    namespaced += [Unit(r, is_custom, ns) for ns in spec.included_namespaces]
                else:
                    namespaced.append(Unit(r, is_custom))
                continue
            if (r.group, r.name) == ("", "namespaces"):
                # Namespaces are structure: always those selected, whatever the labels.
                cluster.append(
                    Unit(
                        r,
                        False,
                        filter=lambda o: self._namespace_ok(o["metadata"]["name"]),
                        labelled=False,
                    )
                )
            elif spec.all_cluster_resources:
                cluster.append(
                    Unit(
                        r,
                        is_custom,
                        labelled=(r.group, r.name)
                        != (rules.CRD_GROUP, "customresourcedefinitions"),
                    )
                )
            elif spec.include_cluster_resources is None:
                related = self._related_filter(r)
                if related is not None:
                    cluster.append(Unit(r, is_custom, filter=related, labelled=False))
        return namespaced, cluster

    def _related_filter(self, r: ApiResource) -> Callable[[dict[str, Any]], bool] | None:
        """For a `namespaces` backup: the cluster-scoped objects its namespaces need."""
        if (r.group, r.name) == (rules.CRD_GROUP, "customresourcedefinitions"):
            return lambda o: (o["spec"]["group"], o["spec"]["names"]["plural"]) in self.custom_seen
        if (r.group, r.name) == ("", "persistentvolumes"):
            return lambda o: o["metadata"]["name"] in self.claimed_pvs
        return None

    # -- listing --------------------------------------------------------------------------

    def _params(self, unit: Unit) -> dict[str, str | int | bool | None]:
        if unit.labelled and self.spec.label_selector:
            return {"labelSelector": self.spec.label_selector}
        return {}

    async def _estimate(self, units: list[Unit]) -> None:
        """Objects to expect, for progress: one single-item page per listing tells the
        rest (remainingItemCount). Estimates only: objects come and go meanwhile."""
        gate = asyncio.Semaphore(self.spec.concurrency)

        async def one(unit: Unit) -> int:
            async with gate:
                page = await self.kube.get(
                    unit.resource.path(unit.namespace), {**self._params(unit), "limit": 1}
                )
            meta = page.get("metadata")
            rest = meta.get("remainingItemCount") if isinstance(meta, dict) else None
            items = page.get("items")
            # An estimate: a count the cluster did not give as numbers counts as none.
            return (len(items) if isinstance(items, list) else 0) + (
                rest if isinstance(rest, int) and rest > 0 else 0
            )

        for count in await asyncio.gather(*(one(u) for u in units)):
            self.estimate += count

    async def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_report >= 1.0:
            self._last_report = now
            await self.progress(self.done, max(self.estimate, self.done), self._step)

    async def _list_unit(self, unit: Unit) -> None:
        r = unit.resource
        current: PartWriter | None = None
        last_key: tuple[str, str] | None = None  # to resume after an expired continue token
        meta = {
            "group": r.group,
            "version": r.version,
            "resource": r.name,
            "kind": r.kind,
            "namespaced": r.namespaced,
            "custom": unit.custom,
        }
        for attempt in range(_MAX_RELISTS + 1):
            try:
                async for item in self.kube.list(
                    r.path(unit.namespace), self._params(unit), self.spec.page_size
                ):
                    md = item.get("metadata") or {}
                    key = (md.get("namespace") or "", md.get("name") or "")
                    if last_key is not None and key <= last_key:
                        continue
                    last_key = key
                    namespace = md.get("namespace")
                    if not self._namespace_ok(namespace):
                        continue
                    if unit.filter is not None and not unit.filter(item):
                        continue
                    if current is None or current.info.meta["namespace"] != namespace:
                        # A listing comes sorted by namespace: a namespace's part is done
                        # once the next one starts.
                        if current is not None:
                            await current.close()
                        current = self.writer.part({**meta, "namespace": namespace})
                    self._observe(r, unit.custom, item)
                    await current.add(
                        json.dumps(
                            rules.strip(item), separators=(",", ":"), ensure_ascii=False
                        ).encode()
                    )
                    self.done += 1
                    self.counts[unit.key] = self.counts.get(unit.key, 0) + 1
                    await self._report()
                break
            except ResourceExpired:
                if attempt == _MAX_RELISTS:
                    raise
                # etcd compacted past our continue token: list again and skip what was
                # already written (lists are sorted by namespace and name).
        if current is not None:
            await current.close()

    def _observe(self, r: ApiResource, custom: bool, item: dict[str, Any]) -> None:
        if custom:
            self.custom_seen.add((r.group, r.name))
        elif (r.group, r.name) == ("", "persistentvolumeclaims"):
            volume = (item.get("spec") or {}).get("volumeName")
            if volume:
                self.claimed_pvs.add(volume)

    async def _run_units(self, units: list[Unit]) -> None:
        queue: asyncio.Queue[Unit] = asyncio.Queue()
        for unit in units:
            queue.put_nowait(unit)

        async def worker() -> None:
            while not queue.empty():
                await self._list_unit(queue.get_nowait())

        async with first_error(), asyncio.TaskGroup() as group:
            for _ in range(min(self.spec.concurrency, len(units)) or 1):
                group.create_task(worker())

    async def run(self) -> BackupResult:
        discovery = await self.kube.discover()
        custom: set[tuple[str, str]] = set()
        async for crd in self.kube.list(CRD_PATH, page_size=self.spec.page_size):
            custom.add((crd["spec"]["group"], crd["spec"]["names"]["plural"]))
        chosen: list[ApiResource] = []
        skipped: list[str] = []
        for r in discovery.resources:
            if rules.backed_up(r.group, r.name, r.verbs):
                chosen.append(r)
            elif "list" in r.verbs:
                skipped.append(f"{r.group_version}/{r.name}")
        namespaced, cluster = self._units(chosen, custom)
        await self._estimate([*namespaced, *cluster])
        await self._report(force=True)
        await self.writer.start()
        await self._run_units(namespaced)
        await self._run_units(cluster)
        self._step = "Writing the manifest"
        await self._report(force=True)
        warnings = [
            f"API group {g} could not be read (its APIService is unavailable); "
            "its objects are not in this backup"
            for g in discovery.unavailable
        ]
        resources = [
            {
                "group": r.group,
                "version": r.version,
                "resource": r.name,
                "kind": r.kind,
                "namespaced": r.namespaced,
                "custom": (r.group, r.name) in custom,
                "count": self.counts.get(f"{r.group_version}/{r.name}", 0),
            }
            for r in chosen
        ]
        return BackupResult(
            counts=dict(sorted(self.counts.items())),
            total=self.done,
            resources=resources,
            skipped_resources=sorted(skipped),
            warnings=warnings,
        )
