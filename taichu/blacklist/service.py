"""The blacklist's logic: manual entries (checked against self-lockout and the
allow-list), auto-blocks made by detectors, listing, removal and hit counts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.audit.service import AuditEntry, append
from taichu.auth.principal import Principal
from taichu.blacklist import networks
from taichu.blacklist.models import BLOCK, MANUAL, BlacklistEntry
from taichu.blacklist.schemas import EntryIn
from taichu.config import Settings
from taichu.errors import Conflict, Invalid, NotFound
from taichu.timeutil import rfc3339, utcnow

# Where work outside a request (a detector's tick gets only a session) finds the process's
# settings and audit key: the AppContext puts them in its sessions' `info`.
SETTINGS_INFO = "taichu.settings"
AUDIT_KEY_INFO = "taichu.audit_key"
MAX_TTL = timedelta(days=36_500)


def allow_list(settings: Settings) -> list[networks.Network]:
    return [networks.parse_network_loose(n) for n in settings.blacklist.allow]


def audit_view(entry: BlacklistEntry) -> dict[str, Any]:
    return {
        "ip": entry.ip,
        "action": entry.action,
        "reason": entry.reason,
        "source": entry.source,
        "expires_at": rfc3339(entry.expires_at),
    }


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _overlapping(network: networks.Network) -> Any:
    version, first, last = networks.bounds(network)
    return and_(
        BlacklistEntry.ip_version == version,
        BlacklistEntry.range_start <= last,
        BlacklistEntry.range_end >= first,
    )


def _active(now: datetime) -> Any:
    return or_(BlacklistEntry.expires_at.is_(None), BlacklistEntry.expires_at > now)


def _new_entry(network: networks.Network, **fields: Any) -> BlacklistEntry:
    version, first, last = networks.bounds(network)
    return BlacklistEntry(
        ip=networks.display(network),
        ip_version=version,
        range_start=first,
        range_end=last,
        hits=0,
        **fields,
    )


@dataclass(frozen=True)
class Caller:
    """Who asks for a manual entry: the safeguards are about them."""

    principal: Principal
    address: str | None  # through the trusted-proxy rule (taichu.api.client)


def _refuse_self_harm(
    network: networks.Network, caller: Caller, allow: Sequence[networks.Network], force: bool
) -> None:
    shown = networks.display(network)
    allowed = networks.within_any(network, allow)
    if allowed is not None:
        raise Invalid(
            f"ip: {shown} is inside the allow-list entry {allowed} "
            "(TAICHU_BLACKLIST__ALLOW): it is never blocked"
        )
    if force:
        return
    own = networks.parse_address(caller.address)
    if own is not None and own.version == network.version and own in network:
        raise Invalid(
            f"ip: {shown} holds your own address {own}: you would lock yourself out; "
            "send force: true to block it anyway"
        )
    loopback = networks.overlaps_any(network, networks.LOOPBACK)
    if loopback is not None:
        raise Invalid(
            f"ip: {shown} covers loopback ({loopback}), which the machine's own tools use; "
            "send force: true to block it anyway"
        )


async def create_entry(
    session: AsyncSession,
    body: EntryIn,
    caller: Caller,
    allow: Sequence[networks.Network],
    now: datetime | None = None,
) -> BlacklistEntry:
    now = now or utcnow()
    network = networks.parse_network(body.ip)
    if body.expires_at is not None and body.expires_at <= now:
        raise Invalid("expires_at: must be in the future")
    if body.expires_at is not None and body.expires_at > now + MAX_TTL:
        raise Invalid("expires_at: at most 100 years ahead (omit it for an entry until removed)")
    if body.action == BLOCK:
        _refuse_self_harm(network, caller, allow, body.force)
    same = await session.scalar(
        select(BlacklistEntry)
        .where(BlacklistEntry.ip == networks.display(network), _active(now))
        .limit(1)
    )
    if same is not None:
        raise Conflict(
            f"ip: {same.ip} already has an active {same.action} entry ({same.id}); "
            "delete it first to change it"
        )
    entry = _new_entry(
        network,
        action=body.action,
        reason=body.reason,
        source=MANUAL,
        expires_at=body.expires_at,
        created_by=caller.principal.username,
    )
    session.add(entry)
    await session.flush()
    audit.note(
        resource_id=entry.id,
        new_value=audit_view(entry),
        details={"force": True} if body.force else {},
    )
    return entry


@dataclass(frozen=True)
class EntryFilter:
    ip: str | None = None  # address or CIDR: entries sharing any address with it
    action: str | None = None
    source: str | None = None
    active: bool | None = None


async def list_entries(
    session: AsyncSession, filters: EntryFilter, offset: int, limit: int, now: datetime
) -> tuple[list[BlacklistEntry], int]:
    conditions: list[Any] = []
    if filters.ip is not None:
        try:
            network = networks.parse_network(filters.ip)
        except ValueError as e:
            raise Invalid(f"ip: {e}") from None
        conditions.append(_overlapping(network))
    if filters.action is not None:
        conditions.append(BlacklistEntry.action == filters.action)
    if filters.source is not None:
        conditions.append(BlacklistEntry.source == filters.source)
    if filters.active is True:
        conditions.append(_active(now))
    elif filters.active is False:
        conditions.append(BlacklistEntry.expires_at <= now)
    total = await session.scalar(
        select(func.count()).select_from(BlacklistEntry).where(*conditions)
    )
    rows = await session.scalars(
        select(BlacklistEntry)
        .where(*conditions)
        .order_by(BlacklistEntry.created_at.desc(), BlacklistEntry.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


async def get_entry(session: AsyncSession, entry_id: str) -> BlacklistEntry:
    entry = await session.get(BlacklistEntry, entry_id) if _is_uuid(entry_id) else None
    if entry is None:
        raise NotFound(f"blacklist entry {entry_id[:64]} not found")
    return entry


async def delete_entry(session: AsyncSession, entry_id: str) -> BlacklistEntry:
    entry = await get_entry(session, entry_id)
    audit.note(resource_id=entry.id, old_value={**audit_view(entry), "hits": entry.hits})
    await session.delete(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class ActiveEntry:
    id: str
    ip: str
    action: str
    expires_at: datetime | None


async def active_entries(session: AsyncSession, now: datetime) -> list[ActiveEntry]:
    """What enforcement applies now (expired entries never): only the columns it needs,
    read every few seconds by every server."""
    rows = await session.execute(
        select(
            BlacklistEntry.id, BlacklistEntry.ip, BlacklistEntry.action, BlacklistEntry.expires_at
        ).where(_active(now))
    )
    return [ActiveEntry(*row) for row in rows]


async def add_hits(session: AsyncSession, counts: Mapping[str, int], at: datetime) -> None:
    """One batched statement for every entry that matched requests since the last call;
    increments, so replicas' counts add up. Entries removed meanwhile are skipped."""
    if not counts:
        return
    table = BlacklistEntry.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("entry_id"))
        .values(
            hits=table.c.hits + bindparam("n"),
            last_hit_at=bindparam("at"),
            updated_at=table.c.updated_at,  # a hit is not a change of the entry
        )
    )
    params = [{"entry_id": k, "n": n, "at": at} for k, n in counts.items()]
    await session.execute(statement, params)


async def auto_block(
    session: AsyncSession,
    ip: str,
    *,
    source: str,
    reason: str,
    expires_at: datetime,
    settings: Settings | None = None,
    audit_key: bytes | None = None,
) -> BlacklistEntry | None:
    """A detector's block of `ip` until `expires_at` (IPv6: its /64). None, and nothing
    blocked, when it touches the allow-list. An active block of the same network is
    extended (expires_at = the later one), not duplicated. Audited as the platform
    itself (no user). `settings` and `audit_key` default to those of the session's
    AppContext."""
    settings = settings or session.info.get(SETTINGS_INFO)
    audit_key = audit_key or session.info.get(AUDIT_KEY_INFO)
    if settings is None or audit_key is None:
        raise RuntimeError("auto_block needs a session of an AppContext (settings, audit key)")
    network = networks.auto_block_network(ip)
    if networks.overlaps_any(network, allow_list(settings)) is not None:
        return None
    now = utcnow()
    entry = await session.scalar(
        select(BlacklistEntry)
        .where(
            BlacklistEntry.ip == networks.display(network),
            BlacklistEntry.action == BLOCK,
            _active(now),
        )
        .order_by(BlacklistEntry.created_at)
        .limit(1)
        .with_for_update()
    )
    extended = entry is not None
    if entry is not None:
        old = audit_view(entry)
        if entry.expires_at is not None and entry.expires_at < expires_at:
            entry.expires_at = expires_at
            entry.updated_at = now
    else:
        old = None
        entry = _new_entry(
            network,
            action=BLOCK,
            reason=reason[:500],
            source=source[:64],
            expires_at=expires_at,
            created_by=None,
        )
        session.add(entry)
    await session.flush()
    record = AuditEntry(
        event_type="anomaly",
        action="auto-block",
        resource="blacklist-entry",
        result="success",
        resource_id=entry.id,
        old_value=old,
        new_value=audit_view(entry),
        details={"detector": source, "reason": reason[:500], "extended": extended},
    )
    await append(session, record, audit_key)
    return entry


async def find_for_removal(session: AsyncSession, target: str) -> list[BlacklistEntry]:
    """`taichu blacklist remove TARGET`: an entry id; or an address (every entry covering
    it); or a CIDR (the entries of exactly that network)."""
    if _is_uuid(target):
        entry = await session.get(BlacklistEntry, target)
        return [entry] if entry is not None else []
    try:
        network = networks.parse_network(target)
    except ValueError as e:
        raise Invalid(f"{target[:64]!r}: not an entry id, address or CIDR ({e})") from None
    if "/" in target:
        query = select(BlacklistEntry).where(BlacklistEntry.ip == networks.display(network))
    else:
        version, first, _ = networks.bounds(network)
        query = select(BlacklistEntry).where(
            BlacklistEntry.ip_version == version,
            BlacklistEntry.range_start <= first,
            BlacklistEntry.range_end >= first,
        )
    return list(await session.scalars(query.order_by(BlacklistEntry.created_at)))


async def all_entries(session: AsyncSession, *, include_expired: bool) -> list[BlacklistEntry]:
    query = select(BlacklistEntry).order_by(BlacklistEntry.created_at)
    if not include_expired:
        query = query.where(_active(utcnow()))
    return list(await session.scalars(query))
