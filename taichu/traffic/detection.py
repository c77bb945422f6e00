"""One detection run (a periodic tick, once across replicas): judge every settled window
not judged yet, record each finding once as an event, auto-block in `block` mode."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.traffic import detectors
from taichu.traffic.addresses import ip_key
from taichu.traffic.detectors import Finding
from taichu.traffic.models import AnomalyEvent, TrafficSample
from taichu.traffic.settings import AnomalySettings
from taichu.traffic.store import Merged, merge

log = logging.getLogger("taichu.traffic")


async def _windows_to_judge(
    session: AsyncSession, rules: AnomalySettings, now: datetime
) -> list[datetime]:
    window = timedelta(seconds=rules.window_seconds)
    settled = now - timedelta(seconds=rules.settle_seconds) - window  # latest start judged
    # Looking back over two intervals: a late or skipped tick leaves no window unjudged;
    # windows judged before yield nothing new (events are unique per window).
    lookback = 2 * timedelta(seconds=rules.detect_interval_seconds) + 2 * window
    query = (
        select(TrafficSample.window_start)
        .where(
            TrafficSample.window_start > settled - lookback,
            TrafficSample.window_start <= settled,
        )
        .distinct()
        .order_by(TrafficSample.window_start)
    )
    return list(await session.scalars(query))


async def _history(
    session: AsyncSession, ip: str, start: datetime, rules: AnomalySettings
) -> list[int]:
    """Requests (refusals by a block aside) of each earlier window of the address."""
    since = start - timedelta(days=rules.rate_baseline_days)
    query = (
        select(func.sum(TrafficSample.requests) - func.sum(TrafficSample.blocked))
        .where(
            TrafficSample.ip == ip,
            TrafficSample.window_start >= since,
            TrafficSample.window_start < start,
        )
        .group_by(TrafficSample.window_start)
    )
    return [int(value or 0) for value in await session.scalars(query)]


async def _findings(
    session: AsyncSession, start: datetime, rules: AnomalySettings
) -> list[Finding]:
    rows = await session.scalars(select(TrafficSample).where(TrafficSample.window_start == start))
    samples: dict[str, Merged] = {ip: s for (_, ip), s in merge(rows).items()}
    found: list[Finding] = []
    for sample in samples.values():
        found.extend(detectors.per_address(sample, rules))
    found.extend(detectors.per_username(samples.values(), rules))
    if rules.modes.rate_spike != "off":
        for ip in detectors.candidates_for_spikes(samples, rules):
            spike = detectors.rate_spike(
                samples[ip], await _history(session, ip, start, rules), rules
            )
            if spike is not None:
                found.append(spike)
    return [f for f in found if getattr(rules.modes, f.detector) != "off"]


async def _offences(session: AsyncSession, ip: str) -> int:
    """Earlier auto-blocks of the address (within retention)."""
    query = select(func.count()).where(
        AnomalyEvent.ip == ip, AnomalyEvent.blocked_until.is_not(None)
    )
    return int(await session.scalar(query) or 0)


def block_ttl(prior_offences: int, rules: AnomalySettings) -> timedelta:
    seconds = rules.block_ttl_seconds * 2 ** min(prior_offences, 32)
    return timedelta(seconds=min(seconds, rules.block_ttl_max_seconds))


async def _block(
    session: AsyncSession,
    event: AnomalyEvent,
    finding: Finding,
    rules: AnomalySettings,
    now: datetime,
) -> None:
    from taichu.blacklist.service import auto_block

    blocked: list[str] = []
    for ip in finding.addresses:
        prior = await _offences(session, ip)
        until = now + block_ttl(prior, rules)
        reason = f"{finding.detector}: {_reason(finding)} (offence {prior + 1})"
        entry = await auto_block(
            session, ip, source=finding.detector, reason=reason, expires_at=until
        )
        if entry is None:  # allow-listed
            continue
        blocked.append(ip)
        if ip == event.ip or event.blacklist_entry_id is None:
            event.blacklist_entry_id = entry.id
            event.offence = prior + 1
        event.blocked_until = max(until, event.blocked_until or until)
    event.evidence = {**event.evidence, "blocked_addresses": blocked}


def _reason(finding: Finding) -> str:
    e = finding.evidence
    if finding.detector in ("brute_force", "brute_force_user"):
        return f"{e['login_failures']} failed logins in one window"
    if finding.detector == "credential_stuffing":
        return f"{e['distinct_usernames']} usernames tried in one window"
    if finding.detector == "scanning":
        return f"{e['distinct_paths']} distinct missing paths in one window"
    if finding.detector == "rate_spike":
        return f"{e['requests']} requests in one window (threshold {e['threshold']})"
    return f"{e['errors']} error answers in one window"


async def run(session: AsyncSession, rules: AnomalySettings, now: datetime) -> list[AnomalyEvent]:
    window = timedelta(seconds=rules.window_seconds)
    recorded: list[AnomalyEvent] = []
    for start in await _windows_to_judge(session, rules, now):
        findings = await _findings(session, start, rules)
        if not findings:
            continue
        judged = set(
            (
                await session.execute(
                    select(AnomalyEvent.detector, AnomalyEvent.subject).where(
                        AnomalyEvent.window_start == start
                    )
                )
            ).tuples()
        )
        for finding in findings:
            if (finding.detector, finding.subject) in judged:
                continue
            mode = getattr(rules.modes, finding.detector)
            event = AnomalyEvent(
                detector=finding.detector,
                subject=finding.subject[:200],
                ip=finding.ip,
                ip_key=ip_key(finding.ip),
                username=finding.username,
                window_start=start,
                window_end=start + window,
                score=round(finding.score, 3),
                evidence=finding.evidence,
                mode=mode,
                offence=1,
                created_at=now,
            )
            if mode == "block" and finding.addresses:
                await _block(session, event, finding, rules, now)
            session.add(event)
            await session.flush()
            recorded.append(event)
            log.warning(
                "anomaly %s of %s in window %s (score %.2f, %s)",
                finding.detector,
                finding.subject,
                start.isoformat(),
                finding.score,
                mode,
            )
    return recorded


async def purge(session: AsyncSession, rules: AnomalySettings, now: datetime) -> tuple[int, int]:
    """Delete samples and events past retention; returns (samples, events) deleted."""
    cutoff = now - timedelta(days=rules.retention_days)
    samples = await session.execute(
        delete(TrafficSample).where(TrafficSample.window_start < cutoff)
    )
    events = await session.execute(delete(AnomalyEvent).where(AnomalyEvent.created_at < cutoff))
    return int(samples.rowcount or 0), int(events.rowcount or 0)  # type: ignore[attr-defined]
