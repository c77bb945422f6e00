"""`auto_block`, the detectors' way in: allow-list, IPv6 /64, extension instead of
duplicates, audit as the platform; and batched hit counts. On the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from taichu.audit.integrity import verify_chain
from taichu.audit.models import AuditRecord
from taichu.blacklist import service
from taichu.blacklist.models import BlacklistEntry
from taichu.config import Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.timeutil import utcnow


@pytest.fixture
def settings(make_settings: object) -> Settings:
    return make_settings(blacklist={"allow": ["192.0.2.0/24", "2001:db8:feed::/48"]})  # type: ignore[operator]


async def _block(ctx: AppContext, ip: str, minutes: float) -> BlacklistEntry | None:
    async with transaction(ctx.sessions) as session:
        return await service.auto_block(
            session,
            ip,
            source="brute_force",
            reason=f"failures from {ip}",
            expires_at=utcnow() + timedelta(minutes=minutes),
        )


async def test_auto_block_rules(ctx: AppContext) -> None:
    first = await _block(ctx, "198.51.100.7", 10)
    assert first is not None
    assert (first.ip, first.action, first.source, first.created_by) == (
        "198.51.100.7",
        "block",
        "brute_force",
        None,
    )
    longer = await _block(ctx, "198.51.100.7", 60)
    shorter = await _block(ctx, "198.51.100.7", 1)
    assert longer is not None and shorter is not None
    assert longer.id == shorter.id == first.id  # extended, not duplicated
    assert first.expires_at is not None and longer.expires_at is not None
    assert shorter.expires_at == longer.expires_at > first.expires_at + timedelta(minutes=49)

    v6 = await _block(ctx, "2001:db8:1:2::99", 10)
    same_64 = await _block(ctx, "2001:db8:1:2:ffff::1", 10)
    assert v6 is not None and same_64 is not None
    assert v6.ip == "2001:db8:1:2::/64" and same_64.id == v6.id

    # Allow-listed: nothing blocked, nothing stored; an IPv6 /64 touching the allow-list too.
    assert await _block(ctx, "192.0.2.5", 10) is None
    assert await _block(ctx, "2001:db8:feed:1::7", 10) is None

    async with ctx.read_sessions() as session:
        entries = list(await session.scalars(select(BlacklistEntry)))
        assert sorted(e.ip for e in entries) == ["198.51.100.7", "2001:db8:1:2::/64"]
        records = list(
            await session.scalars(select(AuditRecord).where(AuditRecord.action == "auto-block"))
        )
        assert len(records) == 5
        assert {r.user for r in records} == {None}
        assert {r.resource for r in records} == {"blacklist-entry"}
        assert sum(1 for r in records if r.details["extended"]) == 3
        report = await verify_chain(session, ctx.audit_key)
        assert report.broken is None and report.checked == 5


async def test_hits_add_up_in_batches(ctx: AppContext) -> None:
    entry = await _block(ctx, "198.51.100.8", 10)
    assert entry is not None
    for n in (3, 4):
        async with transaction(ctx.sessions) as session:
            await service.add_hits(session, {entry.id: n, "gone-entry-id": 2}, utcnow())
    async with ctx.read_sessions() as session:
        stored = await session.get(BlacklistEntry, entry.id)
        assert stored is not None and stored.hits == 7 and stored.last_hit_at is not None
        assert stored.updated_at == entry.updated_at  # a hit is not a change of the entry
        active = await service.active_entries(session, utcnow())
        assert [e.id for e in active] == [entry.id]
        later = await service.active_entries(session, utcnow() + timedelta(minutes=11))
        assert later == []
