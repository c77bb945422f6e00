"""Informer: one collection of one cluster, listed then watched into a store.

The list is paged (`page_size` items at a time, slimmed as they arrive) so that memory
holds one page of raw JSON, never the whole cluster's. A relist fills a fresh store and
swaps it in at the end, so readers never see half a list. On 410 Gone the collection is
relisted; when a watch breaks, the informer resumes it if the API server still answers
and otherwise reports the cluster as failed (views then get 503) and retries with back-off
until a relist succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any, Generic, Protocol, TypeVar

from taichu.config import ObserveSettings
from taichu.errors import TaichuError, Unavailable
from taichu.kube import KubeClient, ResourceExpired

log = logging.getLogger("taichu.observe")

Obj = dict[str, Any]
ClientSource = Callable[[], AbstractAsyncContextManager[KubeClient]]
# A watch that breaks this often in a row while the API server answers lists is treated
# as a failure (e.g. RBAC allows list but not watch), not resumed forever.
_QUICK_RESUMES = 3


class Store(Protocol):
    def upsert(self, obj: Obj) -> None: ...
    def remove(self, obj: Obj) -> None: ...
    def __len__(self) -> int: ...


S = TypeVar("S", bound=Store)


def describe_failure(error: TaichuError) -> str:
    # A CredentialsRejected message says already that the cluster refused the credentials.
    return error.message


class Informer(Generic[S]):
    def __init__(
        self,
        what: str,
        path: str,
        make_store: Callable[[], S],
        source: ClientSource,
        settings: ObserveSettings,
        cluster: str = "",
    ) -> None:
        self.what = what
        self.label = f"{cluster} {what}".strip()  # for logs
        self.path = path
        self.store: S = make_store()
        self._make_store = make_store
        self._source = source
        self._settings = settings
        self.state = "starting"  # starting | synced | failed
        self.error: str | None = None
        self.lists = 0  # completed lists (the first one and every relist)
        self.events = 0  # watch events applied
        self.skipped = 0  # malformed objects left out of the store
        self.synced_at: float | None = None
        self._settled = asyncio.Event()  # set once the first attempt succeeded or failed
        self._wake = asyncio.Event()  # cuts a back-off short: someone wants the data now
        self._failed_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"observe:{self.what}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def wait_synced(self, wait_seconds: float) -> S:
        """The store once listed; Unavailable when the cluster cannot be read (at once if
        the last attempt failed) or the first list takes longer than `wait_seconds`."""
        if self.state == "starting":
            try:
                await asyncio.wait_for(self._settled.wait(), wait_seconds)
            except TimeoutError:
                raise Unavailable(
                    f"the {self.what} of the cluster are still being listed (not done within "
                    f"{wait_seconds:g}s); retry shortly"
                ) from None
        if self.state != "synced":
            if time.monotonic() - self._failed_at > 1.0:
                self._wake.set()  # try again now rather than at the end of the back-off
            raise Unavailable(f"cannot read the cluster's {self.what}: {self.error}")
        return self.store

    # --- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        resource_version: str | None = None
        failures = quick_resumes = 0
        while True:
            try:
                if resource_version is None:
                    resource_version = await self._list()
                    failures = quick_resumes = 0
                began = time.monotonic()
                resource_version, delivered = await self._watch(resource_version)
                if delivered:
                    quick_resumes = 0
                elif time.monotonic() - began < 1.0:
                    await asyncio.sleep(1.0)  # a server that ends every watch at once
            except ResourceExpired:
                log.info("observe %s: resourceVersion expired, relisting", self.label)
                resource_version = None
            except TaichuError as e:
                if (
                    resource_version is not None
                    and quick_resumes < _QUICK_RESUMES
                    and await self._answers()
                ):
                    quick_resumes += 1  # the stream broke, the server did not: resume
                    continue
                resource_version = None
                failures += 1
                self._fail(e)
                await self._pause(self._backoff(failures))
            except Exception as e:
                # A bug must not leave a silently frozen cache that still answers: fail
                # loudly, and try again from a fresh list.
                log.exception("observe %s: unexpected error", self.label)
                resource_version = None
                failures += 1
                self._fail(TaichuError(f"internal error while following the cluster: {e!r}"))
                await self._pause(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        return min(0.5 * 2 ** (failures - 1), self._settings.retry_max_seconds)

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _fail(self, error: TaichuError) -> None:
        message = describe_failure(error)
        if self.state != "failed" or message != self.error:
            log.warning("observe %s: %s", self.label, message)
        self.state, self.error = "failed", message
        self._failed_at = time.monotonic()
        self._settled.set()

    async def _answers(self) -> bool:
        try:
            async with self._source() as kube:
                await kube.get(self.path, {"limit": 1}, request_timeout=5.0)
        except TaichuError:
            return False
        return True

    async def _list(self) -> str:
        store = self._make_store()
        version = ""
        async with self._source() as kube:
            # Pages are checked for shape and bounded (pages, items, time) by the client.
            async for page in kube.pages(self.path, None, self._settings.page_size):
                for item in page.get("items") or []:
                    self._apply(store, "ADDED", item)
                version = (page.get("metadata") or {}).get("resourceVersion") or version
                del page  # one page of raw JSON at a time
        self.store = store
        self.lists += 1
        self.synced_at = time.time()
        if self.state != "synced":
            log.info("observe %s: listed %d", self.label, len(store))
        self.state, self.error = "synced", None
        self._settled.set()
        return version

    async def _watch(self, resource_version: str) -> tuple[str, bool]:
        """Applies events until the server ends the watch; returns where to resume and
        whether any event came."""
        delivered = False
        async with self._source() as kube:
            watch = kube.watch(
                self.path, resource_version, timeout_seconds=self._settings.watch_timeout_seconds
            )
            async with watch:
                async for event in watch:
                    self._apply(self.store, event.type, event.object)
                    self.events += 1
                    delivered = True
        return watch.resource_version or resource_version, delivered

    def _apply(self, store: Store, kind: str, obj: Obj) -> None:
        try:
            if kind == "DELETED":
                store.remove(obj)
            else:
                store.upsert(obj)
        except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as e:
            # One odd object must not stop the cluster's cache; it is left out. A cluster
            # can send a million of them: the log names the first few, then every 1000th.
            self.skipped += 1
            if self.skipped <= 10 or self.skipped % 1000 == 0:
                meta = obj.get("metadata") if isinstance(obj, dict) else None
                name = meta.get("name") if isinstance(meta, dict) else None
                log.warning(
                    "observe %s: skipping malformed object %r (%s; %d skipped so far)",
                    self.label,
                    name[:253] if isinstance(name, str) else None,
                    type(e).__name__,
                    self.skipped,
                )
