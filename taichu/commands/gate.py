"""How many kubectl processes run at once: per user and for the whole process. Beyond
either limit a command is refused at once (429), never queued: a queue would hold HTTP
requests open for minutes behind other people's long commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from taichu.errors import TooManyRequests

RETRY_AFTER_SECONDS = 2


class CommandGate:
    def __init__(self, per_user: int, total: int) -> None:
        self.per_user, self.total = per_user, total
        self._running: dict[str, int] = {}
        self._count = 0

    @property
    def running(self) -> int:
        return self._count

    @contextmanager
    def slot(self, user_id: str) -> Iterator[None]:
        """Hold one slot for `user_id` while the block runs (no await between check and
        count: one step on the event loop)."""
        mine = self._running.get(user_id, 0)
        if mine >= self.per_user:
            raise TooManyRequests(
                f"you already run {mine} commands (at most {self.per_user} at once): "
                "wait for one to end",
                RETRY_AFTER_SECONDS,
            )
        if self._count >= self.total:
            raise TooManyRequests(
                f"the platform already runs {self._count} commands (at most {self.total} "
                "at once): retry shortly",
                RETRY_AFTER_SECONDS,
            )
        self._running[user_id] = mine + 1
        self._count += 1
        try:
            yield
        finally:
            self._count -= 1
            left = self._running[user_id] - 1
            if left:
                self._running[user_id] = left
            else:
                del self._running[user_id]
