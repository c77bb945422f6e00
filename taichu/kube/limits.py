"""Bounds on what is read from a cluster: the server address is a user's choice, so every
answer is treated as hostile until it has been read within its bound and validated."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

KiB, MiB = 2**10, 2**20

BoundName = Literal["small_answer_max_bytes", "answer_max_bytes", "list_page_max_bytes"]
# Room in a page for what is not an item: kind, apiVersion, metadata and its continue token.
PAGE_ENVELOPE_BYTES = 64 * KiB


@dataclass(frozen=True)
class ReadBound:
    """How many bytes one answer may have, and the setting that says so (for messages)."""

    max_bytes: int
    why: str  # "the bound for that kind of request (setting kube.answer_max_bytes)"


@dataclass(frozen=True)
class ReadLimits:
    """Per kind of request. The defaults fit the 5,000-node / 50,000-pod bench and 10,000
    objects of one type in a backup with room to spare; `taichu.config.KubeSettings` has the
    same field names (env `TAICHU_KUBE__<NAME>`)."""

    small_answer_max_bytes: int = 64 * KiB  # /version, /readyz, reviews, error answers
    answer_max_bytes: int = 32 * MiB  # one object, a discovery document, a metrics list
    list_page_max_bytes: int = 256 * MiB  # one page (resourceVersion=0: a whole list)
    # A page asked for with limit=N may hold N items of this size on average (and always
    # one object of answer_max_bytes). Measured in a lab cluster: a pod is 3.5-5.5 KB, an
    # event 1 KB, a node 4 KB; Helm release Secrets and CRDs can be far larger, which is
    # why a refused page is asked for again in smaller pages (KubeClient.pages).
    list_item_max_bytes: int = 64 * KiB
    watch_event_max_bytes: int = 16 * MiB  # one watch line (etcd's object limit is 1.5 MiB)
    list_max_pages: int = 10_000
    list_max_items: int = 1_000_000
    list_max_seconds: float = 600.0  # time spent waiting on the cluster, not on the consumer
    # Bytes of answers the process holds at once, beyond the first small_answer_max_bytes
    # of each (see taichu.kube.budget); at least the largest single bound.
    read_budget_bytes: int = 384 * MiB
    read_budget_wait_seconds: float = 5.0

    def __post_init__(self) -> None:
        largest = max(self.answer_max_bytes, self.list_page_max_bytes, self.watch_event_max_bytes)
        if self.read_budget_bytes < largest:
            raise ValueError(
                f"kube.read_budget_bytes ({self.read_budget_bytes}) must be at least the largest "
                f"single answer bound ({largest}: kube.answer_max_bytes, "
                "kube.list_page_max_bytes, kube.watch_event_max_bytes), or that answer could "
                "never be read"
            )

    @classmethod
    def of(cls, settings: Any) -> ReadLimits:
        """From an object with the same attribute names (KubeSettings)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def bound(self, name: BoundName) -> ReadBound:
        return ReadBound(
            getattr(self, name), f"the bound for that kind of request (setting kube.{name})"
        )

    def page_bound(self, limit: int | None) -> ReadBound:
        """The bound of one list page. A page asked for with `limit` (None: the server does
        not honour a limit, as with resourceVersion=0, and answers the whole list) may hold
        `limit` items of list_item_max_bytes on average, and at least one object of
        answer_max_bytes; never more than list_page_max_bytes."""
        whole = self.bound("list_page_max_bytes")
        if limit is None:
            return whole
        by_items = limit * self.list_item_max_bytes
        if by_items >= self.answer_max_bytes:
            size = by_items + PAGE_ENVELOPE_BYTES
            setting = f"kube.list_item_max_bytes, {self.list_item_max_bytes} bytes an item"
        else:
            size = self.answer_max_bytes + PAGE_ENVELOPE_BYTES
            setting = "kube.answer_max_bytes, the bound of one object"
        if size >= whole.max_bytes:
            return whole
        items = "1 item" if limit == 1 else f"{limit} items"
        return ReadBound(size, f"more than a page of {items} may be (setting {setting})")


def honours_limit(params: dict[str, Any]) -> bool:
    """Whether the API server pages a list asked for with these parameters. With
    resourceVersion=0 (or resourceVersionMatch=NotOlderThan) it answers from its watch
    cache, which ignores `limit` and sends the whole list as one page."""
    version = params.get("resourceVersion")
    if version is not None and str(version) == "0":
        return False
    return params.get("resourceVersionMatch") != "NotOlderThan"
