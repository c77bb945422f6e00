"""The hash-chained audit log: append, query, verify.

Two links per record: `hash` (SHA-256 over the previous hash and the record) chains the
records, so anyone can check it and heads kept outside stay valid; `mac` (HMAC-SHA256 of
`hash` under a key derived from the installation secret) proves the process that wrote
the record held the key, so a rewrite that recomputes the hashes still fails at the
first record it changed."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit.context import redact
from taichu.audit.models import AuditRecord
from taichu.db.base import new_id
from taichu.timeutil import utcnow

log = logging.getLogger("taichu.audit")

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


def record_mac(key: bytes, record_hash_: str) -> str:
    # `hash` covers the record and, through prev_hash, everything before it.
    return hmac.new(key, record_hash_.encode(), hashlib.sha256).hexdigest()


async def lock_chain(session: AsyncSession) -> None:
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})


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


async def append(session: AsyncSession, entry: AuditEntry, key: bytes) -> AuditRecord:
    """Append one record to the chain, in the transaction of the change it describes; call
    it last before the commit (on PostgreSQL it holds the chain's lock until then)."""
    await lock_chain(session)
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
    record.mac = record_mac(key, record.hash)
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
