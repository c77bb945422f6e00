"""The flush on a real database: 1,000 addresses of a window are one statement in one
transaction; a second write of the same (window, address, replica) adds up."""

from __future__ import annotations

from sqlalchemy import func, select

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.traffic.models import TrafficSample
from taichu.traffic.sampler import Request, Sampler
from taichu.traffic.store import merge, rows_of, write_rows

T0 = 1_800_000_000.0


async def test_a_thousand_addresses_are_one_batched_upsert(ctx: AppContext) -> None:
    sampler = Sampler(60, 20_000, 100)
    for i in range(1000):
        for _ in range(3):
            seen = Request(ip=f"10.1.{i // 250}.{i % 250}", status=404, path=f"/x{i}", seconds=0.01)
            sampler.record(seen, now=T0)
    rows = rows_of(sampler.take_all(), 60, "replica-a")
    async with transaction(ctx.sessions) as session:
        stats = await write_rows(session, rows)
    assert (stats.rows, stats.statements) == (1000, 1)
    async with transaction(ctx.sessions) as session:  # the same rows again: added, not lost
        again = await write_rows(session, rows)
    assert again.statements == 1
    async with ctx.read_sessions() as session:
        count = await session.scalar(select(func.count()).select_from(TrafficSample))
        total = await session.scalar(select(func.sum(TrafficSample.requests)))
        one = list(
            await session.scalars(select(TrafficSample).where(TrafficSample.ip == "10.1.0.7"))
        )
    assert (count, total) == (1000, 6000)
    (merged,) = merge(one).values()
    assert merged.counts["status_404"] == 6 and merged.missing_paths == {"/x7"}
