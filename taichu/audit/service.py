"""The hash-chained audit log: append, query, verify."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit.context import redact
from taichu.audit.models import AuditRecord
from taichu.db.base import new_id
from taichu.timeutil import utcnow

GENESIS_HASH = "0" * 64
# Any constant works; it names the lock that serialises appends across replicas on PostgreSQL.
_PG_CHAIN_LOCK = 7_274_201


def _canonical(record: AuditRecord) -> str:
    fields = {
        "id": record.id,
        "seq": record.seq,
        "event_type": record.event_type,
        "action": record.action,
        "resource": record.resource,
        "resource_id": record.resource_id,
        "cluster_id": record.cluster_id,
        "user": record.user,
        "user_id": record.user_id,
        "ip_address": record.ip_address,
        "method": record.method,
        "path": record.path,
        "status_code": record.status_code,
        "old_value": record.old_value,
        "new_value": record.new_value,
        "details": record.details,
        "result": record.result,
        "timestamp": record.timestamp.isoformat(timespec="microseconds"),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)


def record_hash(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256((prev_hash + _canonical(record)).encode()).hexdigest()


@dataclass
class AuditEntry:
    event_type: str
    action: str
    resource: str
    result: str
    resource_id: str | None = None
    cluster_id: str | None = None
    user: str | None = None
    user_id: str | None = None
    ip_address: str | None = None
    method: str | None = None
    path: str | None = None
    status_code: int | None = None
    old_value: dict[str, Any] | None = None
    new_value: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


def _fit(value: str | None, length: int) -> str | None:
    return value if value is None or len(value) <= length else value[: length - 1] + "…"


async def append(session: AsyncSession, entry: AuditEntry) -> AuditRecord:
    """Append one record to the chain. Call inside a short transaction of its own."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})
    last = (
        await session.execute(
            select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
        )
    ).first()
    prev_seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
    record = AuditRecord(
        id=new_id(),
        seq=prev_seq + 1,
        # Whatever a caller sent (a 10 kB username) must not make its own audit record
        # unwritable: text fields are cut to their columns.
        event_type=_fit(entry.event_type, 64),
        action=_fit(entry.action, 64),
        resource=_fit(entry.resource, 64),
        resource_id=_fit(entry.resource_id, 255),
        cluster_id=_fit(entry.cluster_id, 36),
        user=_fit(entry.user, 64),
        user_id=_fit(entry.user_id, 36),
        ip_address=_fit(entry.ip_address, 64),
        method=_fit(entry.method, 10),
        path=_fit(entry.path, 500),
        status_code=entry.status_code,
        old_value=redact(entry.old_value) if entry.old_value is not None else None,
        new_value=redact(entry.new_value) if entry.new_value is not None else None,
        details=redact(entry.details or {}),
        result=entry.result,
        timestamp=utcnow(),
        prev_hash=prev_hash,
        hash="",
    )
    record.hash = record_hash(prev_hash, record)
    session.add(record)
    await session.flush()
    return record


@dataclass
class AuditFilter:
    event_type: str | None = None
    action: str | None = None
    user: str | None = None
    result: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    cluster_id: str | None = None
    resource: str | None = None
    resource_id: str | None = None


def _filtered(query: Select[Any], flt: AuditFilter) -> Select[Any]:
    for column, value in (
        (AuditRecord.event_type, flt.event_type),
        (AuditRecord.action, flt.action),
        (AuditRecord.user, flt.user),
        (AuditRecord.result, flt.result),
        (AuditRecord.cluster_id, flt.cluster_id),
        (AuditRecord.resource, flt.resource),
        (AuditRecord.resource_id, flt.resource_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if flt.start_time is not None:
        query = query.where(AuditRecord.timestamp >= flt.start_time)
    if flt.end_time is not None:
        query = query.where(AuditRecord.timestamp <= flt.end_time)
    return query


async def list_records(
    session: AsyncSession, flt: AuditFilter, offset: int, limit: int
) -> tuple[list[AuditRecord], int]:
    total = await session.scalar(_filtered(select(func.count(AuditRecord.id)), flt))
    rows = await session.scalars(
        _filtered(select(AuditRecord), flt)
        .order_by(AuditRecord.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


@dataclass
class ChainBreak:
    seq: int
    record_id: str | None
    reason: str


@dataclass
class ChainReport:
    checked: int
    head: tuple[int, str] | None  # (seq, hash) of the newest record verified
    broken: ChainBreak | None


async def verify_chain(
    session: AsyncSession, anchor: tuple[int, str] | None = None, batch: int = 1000
) -> ChainReport:
    """Walk the chain in order; report how many records were checked, the head and the
    first break. The chain alone cannot show that its newest records were removed; an
    `anchor` (a head reported earlier, kept outside the database) can: that record must
    still be there, unchanged."""
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
    head: tuple[int, str] | None = None

    def report(broken: ChainBreak | None) -> ChainReport:
        return ChainReport(checked, head, broken)

    while True:
        rows = list(
            await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.seq >= expected_seq)
                .order_by(AuditRecord.seq)
                .limit(batch)
            )
        )
        if not rows:
            if anchor is not None and anchor[0] >= expected_seq:
                return report(
                    ChainBreak(
                        expected_seq,
                        None,
                        (
                            f"records from {expected_seq} on were removed: the anchor "
                            f"{anchor[0]} is beyond the end of the log"
                        ),
                    )
                )
            return report(None)
        for record in rows:
            if record.seq != expected_seq:
                return report(
                    ChainBreak(expected_seq, None, f"record {expected_seq} is missing (removed)")
                )
            if record.prev_hash != expected_prev:
                return report(
                    ChainBreak(
                        record.seq,
                        record.id,
                        "previous-hash link does not match (record removed or replaced before it)",
                    )
                )
            if record_hash(record.prev_hash, record) != record.hash:
                return report(ChainBreak(record.seq, record.id, "record content was altered"))
            if anchor is not None and record.seq == anchor[0] and record.hash != anchor[1]:
                return report(
                    ChainBreak(
                        record.seq,
                        record.id,
                        ("does not match the anchor: the log was rewritten from here on"),
                    )
                )
            expected_seq, expected_prev = record.seq + 1, record.hash
            head = (record.seq, record.hash)
            checked += 1
