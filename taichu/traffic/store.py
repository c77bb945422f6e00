"""Writing a replica's windows (one batched upsert per flush) and merging rows on read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.traffic.addresses import ip_key
from taichu.traffic.models import COUNTERS, TrafficSample
from taichu.traffic.sampler import BUCKETS, Counts, percentile_ms


def window_start(index: int, window_seconds: int) -> datetime:
    return datetime.fromtimestamp(index * window_seconds, UTC)


def rows_of(
    windows: dict[int, dict[str, Counts]], window_seconds: int, replica: str
) -> list[dict[str, Any]]:
    rows = []
    for index, window in windows.items():
        start = window_start(index, window_seconds)
        for ip, counts in window.items():
            row = counts.row()
            row.update(
                window_start=start,
                ip=ip,
                replica=replica,
                ip_key=ip_key(ip),
                window_seconds=window_seconds,
            )
            rows.append(row)
    return rows


@dataclass
class FlushStats:
    rows: int = 0
    statements: int = 0  # statements sent to the database (an executemany is one)


async def write_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> FlushStats:
    """One statement for all rows (executemany of an upsert). Counters add up on
    conflict, so a (window, address, replica) written twice is never counted wrong; the
    distinct sets of a second write replace the first (a replica writes a window once)."""
    stats = FlushStats(rows=len(rows))
    if not rows:
        return stats
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    stmt = insert(TrafficSample)
    added = {name: getattr(TrafficSample, name) + getattr(stmt.excluded, name) for name in COUNTERS}
    for name in ("missing_paths", "usernames", "users", "latency"):
        added[name] = getattr(stmt.excluded, name)
    stmt = stmt.on_conflict_do_update(index_elements=["window_start", "ip", "replica"], set_=added)
    connection = await session.connection()

    def count(*_: Any) -> None:
        stats.statements += 1

    event.listen(connection.sync_connection, "before_cursor_execute", count)
    try:
        await session.execute(stmt, rows)
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", count)
    return stats


@dataclass
class Merged:
    """One (window, address) over every replica's row."""

    window_start: datetime
    ip: str
    window_seconds: int
    replicas: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    missing_paths: set[str] = field(default_factory=set)
    usernames: dict[str, int] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    latency: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, row: TrafficSample) -> None:
        self.replicas += 1
        for name in COUNTERS:
            self.counts[name] += getattr(row, name)
        self.missing_paths.update(row.missing_paths or ())
        for name, failures in (row.usernames or {}).items():
            self.usernames[name] = self.usernames.get(name, 0) + int(failures)
        self.users.update(row.users or ())
        for index, count in enumerate((row.latency or [])[:BUCKETS]):
            self.latency[index] += int(count)

    @property
    def judged(self) -> int:
        """Requests that count as evidence (refusals by a block do not)."""
        return self.counts["requests"] - self.counts["blocked"]

    @property
    def errors(self) -> int:
        c = self.counts
        return c["status_4xx"] + c["status_5xx"] - c["status_404"]

    def summary(self) -> dict[str, Any]:
        end = self.window_start.timestamp() + self.window_seconds
        return {
            "window_start": self.window_start,
            "window_end": datetime.fromtimestamp(end, UTC),
            "ip": self.ip,
            **self.counts,
            "not_found_paths": len(self.missing_paths),
            "login_usernames": len(self.usernames),
            "users": len(self.users),
            "latency_p50_ms": percentile_ms(self.latency, 0.5),
            "latency_p99_ms": percentile_ms(self.latency, 0.99),
            "replicas": self.replicas,
        }


def merge(rows: Iterable[TrafficSample]) -> dict[tuple[datetime, str], Merged]:
    merged: dict[tuple[datetime, str], Merged] = {}
    for row in rows:
        key = (row.window_start, row.ip)
        sample = merged.get(key)
        if sample is None:
            sample = merged[key] = Merged(row.window_start, row.ip, row.window_seconds)
        sample.add(row)
    return merged
