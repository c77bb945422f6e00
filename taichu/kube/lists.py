"""Lists, mixed into `KubeClient`: paged, each page read within the bound of what was
asked, and the whole list within page, item and time bounds."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from taichu.kube.answers import field_list, field_object, field_str
from taichu.kube.errors import AnswerTooLarge, ListTooLong, MalformedAnswer
from taichu.kube.limits import honours_limit

if TYPE_CHECKING:
    from taichu.kube.client import KubeClient, Params

Obj = dict[str, Any]
# A page refused as larger than its limit allows is asked for again this many times smaller:
# a cluster of large objects (Helm release Secrets, CRDs) still lists, in smaller pages.
_PAGE_SHRINK = 4


class ListCalls:
    async def pages(
        self: KubeClient,
        path: str,
        params: Params | None = None,
        page_size: int = 500,
        *,
        accept: str | None = None,
        max_pages: int | None = None,
        max_items: int | None = None,
        max_seconds: float | None = None,
        request_timeout: float | None = None,
    ) -> AsyncIterator[Obj]:
        """The raw pages of a paged list, each checked for shape (items an array, metadata
        an object) and the whole within the bounds: pages, items and time spent waiting on
        the cluster (the consumer's time between pages does not count). Past a bound:
        `ListTooLong`, naming it. The items themselves are the consumer's to check.
        `request_timeout` replaces the client's for each page (a whole list may need more).

        A page is read within the bound of what was asked (`ReadLimits.page_bound`): a
        page of `page_size` items, or the whole list where the API server ignores the
        limit (resourceVersion=0). A page larger than its limit allows is asked for again
        in smaller pages, down to one item, before the list fails with `AnswerTooLarge`."""
        limits = self.limits
        page_bound = _bound(max_pages, limits.list_max_pages, "list_max_pages")
        item_bound = _bound(max_items, limits.list_max_items, "list_max_items")
        time_bound = _bound(max_seconds, limits.list_max_seconds, "list_max_seconds")
        query: Params = {**(params or {}), "limit": page_size}
        paged = honours_limit(query)
        limit, tried = page_size, []
        pages = items = 0
        waited = 0.0
        while True:
            if pages >= page_bound[0]:
                raise self._list_bound(path, "took more than {} pages", page_bound)
            remaining = time_bound[0] - waited
            if remaining <= 0:
                raise self._list_bound(path, "took longer than {:g}s", time_bound)
            query["limit"] = limit
            bound = limits.page_bound(limit if paged else None)
            began = time.monotonic()
            try:
                async with asyncio.timeout(remaining):
                    page = await self.request(
                        "GET",
                        path,
                        params=query,
                        accept=accept,
                        bound=bound,
                        request_timeout=request_timeout,
                    )
            except TimeoutError:  # the request's own timeout is a ClusterUnreachable
                raise self._list_bound(path, "took longer than {:g}s", time_bound) from None
            except AnswerTooLarge as e:
                waited += time.monotonic() - began
                tried.append(limit)
                if not paged or limit <= 1:
                    if len(tried) > 1:
                        raise AnswerTooLarge(
                            f"{e.message} (asked for pages of {', '.join(map(str, tried))} items)"
                        ) from e
                    raise
                limit = max(1, limit // _PAGE_SHRINK)
                continue
            waited += time.monotonic() - began
            pages += 1
            what = f"the list {path}"
            items += len(field_list(page, "items", what))
            if items > item_bound[0]:
                raise self._list_bound(path, "returned more than {} items", item_bound)
            meta = field_object(page, "metadata", what)
            token = field_str(meta, "continue", f"{what} metadata", 100_000)
            field_str(meta, "resourceVersion", f"{what} metadata", 1000)
            yield page
            if not token:
                return
            query["continue"] = token

    def _list_bound(
        self: KubeClient, path: str, template: str, bound: tuple[float, str | None]
    ) -> ListTooLong:
        value, setting = bound
        where = f" (setting kube.{setting})" if setting else ""
        return ListTooLong(
            f"listing {path} from {self.server} {template.format(value)}{where}, "
            "the bound of one list: stopped"
        )

    async def _filled_pages(
        self: KubeClient, path: str, params: Params | None, page_size: int, bounds: dict[str, Any]
    ) -> AsyncIterator[tuple[Obj, builtins.list[Obj]]]:
        """Pages with their items, each item given the list's kind and apiVersion."""
        async for page in self.pages(path, params, page_size, **bounds):
            items: builtins.list[Obj] = page.get("items") or []
            # List items carry no kind/apiVersion; fill them in as kubectl does, so an item
            # can be stored or re-applied on its own. The same loop checks they are objects.
            kind = page.get("kind")
            kind = kind.removesuffix("List") if isinstance(kind, str) and kind != "List" else ""
            api_version = page.get("apiVersion")
            try:
                for item in items:
                    if kind:
                        item.setdefault("kind", kind)
                    if api_version is not None:
                        item.setdefault("apiVersion", api_version)
                    elif not kind and not isinstance(item, dict):
                        raise AttributeError
            except AttributeError:
                raise MalformedAnswer(f"the items of the list {path} are not all objects") from None
            yield page, items

    async def list(
        self: KubeClient,
        path: str,
        params: Params | None = None,
        page_size: int = 500,
        **bounds: Any,
    ) -> AsyncIterator[Obj]:
        """Every item of a collection, fetched `page_size` at a time, within the bounds of
        `pages` (`max_pages`, `max_items`, `max_seconds`). A continue token that expires
        mid-way (etcd compaction) raises `ResourceExpired`: start over."""
        async for _, items in self._filled_pages(path, params, page_size, bounds):
            for item in items:
                yield item

    async def list_all(
        self: KubeClient,
        path: str,
        params: Params | None = None,
        page_size: int = 500,
        **bounds: Any,
    ) -> tuple[builtins.list[Obj], str]:
        """All items and the list's resourceVersion (to start a watch from)."""
        everything: builtins.list[Obj] = []
        version = ""
        async for page, items in self._filled_pages(path, params, page_size, bounds):
            everything.extend(items)
            version = (page.get("metadata") or {}).get("resourceVersion") or version
        return everything, version


def _bound(given: float | None, default: float, setting: str) -> tuple[float, str | None]:
    """A bound and the setting it comes from (None when the caller chose it)."""
    return (default, setting) if given is None else (given, None)
