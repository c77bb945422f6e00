"""Periodic work of the traffic domain (ticks run once across replicas):
`anomaly-detect` judges settled windows, `anomaly-retention` purges old samples/events."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from taichu.config import Settings
from taichu.jobs.registry import JobRegistry
from taichu.traffic import detection

log = logging.getLogger("taichu.traffic")

DETECT_TICK = "anomaly-detect"
RETENTION_TICK = "anomaly-retention"


def register(registry: JobRegistry, settings: Settings) -> None:
    rules = settings.anomaly

    async def detect(session: AsyncSession, now: datetime) -> None:
        await detection.run(session, rules, now)

    async def purge(session: AsyncSession, now: datetime) -> None:
        samples, events = await detection.purge(session, rules, now)
        if samples or events:
            log.info(
                "purged %d traffic samples and %d anomaly events past retention", samples, events
            )

    if rules.enabled:
        registry.periodic(DETECT_TICK, rules.detect_interval_seconds, detect)
    registry.periodic(RETENTION_TICK, rules.retention_interval_seconds, purge)
