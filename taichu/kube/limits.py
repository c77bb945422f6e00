"""Bounds on what is read from a cluster: the server address is a user's choice, so every
answer is treated as hostile until it has been read within its bound and validated."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

KiB, MiB = 2**10, 2**20


@dataclass(frozen=True)
class ReadLimits:
    """Per kind of request. The defaults fit the 5,000-node / 50,000-pod bench and 10,000
    objects of one type in a backup with room to spare; `taichu.config.KubeSettings` has the
    same field names (env `TAICHU_KUBE__<NAME>`)."""

    small_answer_max_bytes: int = 64 * KiB  # /version, /readyz, reviews, error answers
    answer_max_bytes: int = 32 * MiB  # one object, a discovery document, a metrics list
    list_page_max_bytes: int = 256 * MiB  # one page (resourceVersion=0: a whole list)
    watch_event_max_bytes: int = 16 * MiB  # one watch line (etcd's object limit is 1.5 MiB)
    list_max_pages: int = 10_000
    list_max_items: int = 1_000_000
    list_max_seconds: float = 600.0  # time spent waiting on the cluster, not on the consumer

    @classmethod
    def of(cls, settings: Any) -> ReadLimits:
        """From an object with the same attribute names (KubeSettings)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})
