"""Checking the audit chain, and keying the records written before the chain had a key."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from taichu.audit.models import AuditRecord
from taichu.audit.service import (
    GENESIS_HASH,
    AuditEntry,
    append,
    lock_chain,
    record_hash,
    record_mac,
)
from taichu.crypto import derive_key
from taichu.db.session import transaction

log = logging.getLogger("taichu.audit")

KEY_PURPOSE = "audit-chain"


def chain_key(master: bytes) -> bytes:
    return derive_key(master, KEY_PURPOSE)


@dataclass
class ChainBreak:
    seq: int
    record_id: str | None
    reason: str


@dataclass
class Seal:
    """Records 1..through_seq got their MAC at `sealed_at`, not when they were written."""

    seq: int
    through_seq: int
    sealed_at: datetime


@dataclass
class ChainReport:
    checked: int
    head: tuple[int, str] | None  # (seq, hash) of the newest record verified
    broken: ChainBreak | None
    seals: list[Seal] = field(default_factory=list)


def _check(
    record: AuditRecord, expected_prev: str, key: bytes, anchor: tuple[int, str] | None
) -> str | None:
    """Why `record` fails, or None. The MAC is checked before the anchor: a rewrite that
    recomputed the unkeyed hashes is found at its first record, not at the anchor."""
    if record.prev_hash != expected_prev:
        return "previous-hash link does not match (record removed or replaced before it)"
    if record_hash(record.prev_hash, record) != record.hash:
        return "record content was altered"
    if not record.mac:
        return "record has no MAC (written without the installation's key, or the MAC removed)"
    if not hmac.compare_digest(record_mac(key, record.hash), record.mac):
        return (
            "MAC does not match: the record was rewritten (hashes recomputed without the key), "
            "or this is not the installation's secret"
        )
    if anchor is not None and record.seq == anchor[0] and record.hash != anchor[1]:
        return "does not match the anchor: the log was rewritten from here on"
    return None


async def verify_chain(
    session: AsyncSession,
    key: bytes,
    anchor: tuple[int, str] | None = None,
    batch: int = 1000,
    on_batch: Callable[[int], Awaitable[None]] | None = None,
) -> ChainReport:
    """Walk the chain in order; report how many records were checked, the head and the
    first break. The chain alone cannot show that its newest records were removed; an
    `anchor` (a head reported earlier, kept outside the database) can: that record must
    still be there, unchanged. `on_batch(checked)` is awaited between batches (a job's
    progress)."""
    report = ChainReport(0, None, None)
    expected_seq, expected_prev = 1, GENESIS_HASH
    while True:
        if on_batch is not None and report.checked:
            await on_batch(report.checked)
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
                report.broken = ChainBreak(
                    expected_seq,
                    None,
                    f"records from {expected_seq} on were removed: the anchor "
                    f"{anchor[0]} is beyond the end of the log",
                )
            return report
        for record in rows:
            if record.seq != expected_seq:
                report.broken = ChainBreak(
                    expected_seq, None, f"record {expected_seq} is missing (removed)"
                )
                return report
            reason = _check(record, expected_prev, key, anchor)
            if reason is not None:
                report.broken = ChainBreak(record.seq, record.id, reason)
                return report
            if record.event_type == "audit" and record.action == "seal":
                through = int((record.details or {}).get("through_seq", 0))
                report.seals.append(Seal(record.seq, through, record.timestamp))
            expected_seq, expected_prev = record.seq + 1, record.hash
            report.head = (record.seq, record.hash)
            report.checked += 1


async def warn_unkeyed(sessions: async_sessionmaker[AsyncSession]) -> int:
    """At start: say so when records lack a MAC (an upgrade, or tampering); never seal."""
    async with sessions() as session:
        unkeyed = await session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.mac.is_(None))
        )
    if unkeyed:
        log.warning(
            "%d audit records have no MAC: after the upgrade that keyed the audit chain, check "
            "them and run `taichu audit seal` once; otherwise they were tampered with "
            "(`taichu audit verify` names the first)",
            unkeyed,
        )
    return int(unkeyed or 0)


async def seal_unkeyed(
    sessions: async_sessionmaker[AsyncSession], key: bytes, batch: int = 1000
) -> int:
    """Give a MAC to the records written before the chain was keyed, once: only while no
    record has one. An operator's act (`taichu audit seal`, right after the upgrade), never
    automatic: whoever can write to the database can make it look unkeyed (strip every MAC
    after rewriting a record), and an automatic seal at start would launder that rewrite.
    Later, a record without a MAC is a break that `verify` reports. Returns how many were
    sealed."""
    async with transaction(sessions) as session:
        await lock_chain(session)  # replicas starting together seal once
        keyed = await session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.mac.is_not(None))
        )
        unkeyed = await session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.mac.is_(None))
        )
        if not unkeyed:
            return 0
        if keyed:
            log.warning(
                "%d audit records have no MAC; `taichu audit verify` reports the first", unkeyed
            )
            return 0
        last_seq, sealed = 0, 0
        while True:
            rows = (
                await session.execute(
                    select(AuditRecord.id, AuditRecord.seq, AuditRecord.hash)
                    .where(AuditRecord.seq > last_seq)
                    .order_by(AuditRecord.seq)
                    .limit(batch)
                )
            ).all()
            if not rows:
                break
            await session.execute(
                update(AuditRecord),
                [{"id": row.id, "mac": record_mac(key, row.hash)} for row in rows],
            )
            last_seq, sealed = rows[-1].seq, sealed + len(rows)
        await append(
            session,
            AuditEntry(
                event_type="audit",
                action="seal",
                resource="audit",
                result="success",
                user="system",
                details={"sealed": sealed, "through_seq": last_seq},
            ),
            key,
        )
    log.warning(
        "audit chain keyed: sealed %d records written before this version (through seq %d) "
        "with the installation's key; they are only as trustworthy as they were until now",
        sealed,
        last_seq,
    )
    return sealed
