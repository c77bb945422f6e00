"""The process-wide budget of bytes read from clusters and held at once.

Each answer is bounded on its own (`ReadLimits`), but a bound of hundreds of MiB times a
few clusters answering at once (a cluster's address is a user's choice) is more memory than
the platform has. So answers also draw on one budget per process, as their bytes arrive:

- Reserved as received, not the bound up front: a whole-list bound is 256 MiB while most
  answers to it are a few MiB, and reserving worst cases would let two probes of ordinary
  clusters exhaust the budget. An answer whose Content-Length is known reserves that at
  once. What is reserved is held until the answer is parsed (buffer and parse coexist).
- The first `free_bytes` of every answer are not counted: /version, /readyz, reviews and
  most single objects never wait, however busy the budget is (their memory is bounded by
  how many requests run at once, each a small answer).
- An answer that finds the budget exhausted waits, at most `wait_seconds` in all, in
  first-come order (a big answer is not overtaken forever by a stream of smaller ones),
  then fails with `ReadBudgetExhausted` (503: retry later) and drops what it read. Answers
  that all hold a share and all wait for more are untangled by the same bound: the one
  that has waited longest gives up first and its share goes to the others.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Self

from taichu.kube.errors import ReadBudgetExhausted
from taichu.kube.limits import KiB, MiB, ReadLimits

# Reserved in steps: an answer does not come back to the budget for every 64 KiB chunk.
GRAIN = 1 * MiB


@dataclass(eq=False)
class _Waiter:
    hold: Hold
    amount: int
    granted: asyncio.Future[None]


def _grains(size: int) -> int:
    """`size` rounded up to whole grains (0 for none)."""
    return max(0, -(-size // GRAIN) * GRAIN)


class ReadBudget:
    def __init__(
        self, total_bytes: int, wait_seconds: float = 5.0, free_bytes: int = 64 * KiB
    ) -> None:
        if total_bytes < GRAIN:
            raise ValueError(f"a read budget of {total_bytes} bytes is smaller than {GRAIN}")
        self.total_bytes = total_bytes
        self.wait_seconds = wait_seconds
        self.free_bytes = free_bytes
        self.in_use = 0
        self.exhausted = 0  # answers refused for want of budget (since start)
        self._waiters: deque[_Waiter] = deque()

    @classmethod
    def of(cls, limits: ReadLimits) -> ReadBudget:
        return cls(
            limits.read_budget_bytes, limits.read_budget_wait_seconds, limits.small_answer_max_bytes
        )

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def hold(self, what: str) -> Hold:
        """The share of one answer (`what` names it in the error); release it when done,
        e.g. `async with budget.hold("GET /api/v1/pods from https://...") as held:`."""
        return Hold(self, what)

    def _grant(self) -> None:
        while self._waiters:
            head = self._waiters[0]
            if head.granted.done():  # cancelled or timed out: its turn is gone
                self._waiters.popleft()
                continue
            if self.in_use + head.amount > self.total_bytes:
                return  # first come, first served: nobody overtakes the head
            self._waiters.popleft()
            self.in_use += head.amount
            head.hold.reserved += head.amount
            head.granted.set_result(None)

    def _release(self, amount: int) -> None:
        self.in_use -= amount
        self._grant()


class Hold:
    """One answer's share of a `ReadBudget`."""

    def __init__(self, budget: ReadBudget, what: str) -> None:
        self._budget = budget
        self.what = what
        self.reserved = 0
        self.waited = 0.0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    async def cover(self, size: int) -> None:
        """Make sure an answer of `size` bytes so far is covered: returns at once while it
        is, else reserves more (waiting for room, within the budget's wait bound)."""
        budget = self._budget
        need = size - budget.free_bytes
        if need <= self.reserved:
            return
        if need > budget.total_bytes:  # ReadLimits keeps every bound within the budget
            raise ValueError(f"{size} bytes is more than the whole read budget")
        target = min(_grains(need), budget.total_bytes)
        waiter = _Waiter(self, target - self.reserved, asyncio.get_running_loop().create_future())
        budget._waiters.append(waiter)
        budget._grant()  # at once when there is room and nobody is ahead
        if not waiter.granted.done():
            await self._wait(waiter)

    async def _wait(self, waiter: _Waiter) -> None:
        budget = self._budget
        left = budget.wait_seconds - self.waited
        began = time.monotonic()
        try:
            async with asyncio.timeout(max(left, 0)):
                await asyncio.shield(waiter.granted)
        except TimeoutError:
            if waiter.granted.done():
                return  # granted as the time ran out: use it
            waiter.granted.cancel()
            budget._grant()  # the head may have been this waiter
            budget.exhausted += 1
            raise ReadBudgetExhausted(
                f"the platform is holding as many bytes read from clusters as it may "
                f"({budget.total_bytes} bytes, setting kube.read_budget_bytes) and waited "
                f"{budget.wait_seconds:g}s (setting kube.read_budget_wait_seconds) for room to "
                f"read {self.what} past {self.reserved + budget.free_bytes} bytes: retry later"
            ) from None
        except BaseException:  # cancelled: give the turn, or what it was just granted, back
            if waiter.granted.done():
                self.reserved -= waiter.amount
                budget._release(waiter.amount)
            else:
                waiter.granted.cancel()
                budget._grant()
            raise
        finally:
            self.waited += time.monotonic() - began

    def trim(self, size: int) -> None:
        """Give back what an answer of `size` bytes no longer needs (a watch's buffer once
        an event has been taken out of it)."""
        keep = min(_grains(size - self._budget.free_bytes), self.reserved)
        if keep < self.reserved:
            amount, self.reserved = self.reserved - keep, keep
            self._budget._release(amount)

    def release(self) -> None:
        if self.reserved:
            amount, self.reserved = self.reserved, 0
            self._budget._release(amount)
