"""Two `taichu serve` replicas on one PostgreSQL database: each writes its own rows once
per window, and the samples of both add up exactly. Retention purges old samples."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from taichu.db.session import make_engine
from taichu.timeutil import utcnow
from taichu.traffic.addresses import ip_key
from taichu.traffic.models import TrafficSample
from taichu.traffic.sampler import Counts
from tests.support.db import BACKEND
from tests.support.waiting import wait_for
from tests.traffic.conftest import admin_client, client_at


async def _samples(admin: Any, ip: str) -> list[dict[str, Any]]:
    response = await admin.get("/api/anomaly/traffic/", params={"ip": ip, "limit": "100"})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _total(samples: list[dict[str, Any]], field: str) -> int:
    return sum(s[field] for s in samples)


@pytest.mark.skipif(BACKEND == "sqlite", reason="replicas share PostgreSQL only")
async def test_samples_of_two_replicas_add_up_exactly(serve: Any) -> None:
    first, second = await serve(), await serve()
    body = json.dumps({"username": "nobody", "password": "wrong-password"}).encode()
    size = len(body)
    json_type = {"Content-Type": "application/json"}
    sent = {first.url: (40, 7), second.url: (25, 5)}  # (GETs, failed logins) per replica

    async def traffic(url: str, gets: int, logins: int) -> None:
        async with client_at(url, "127.0.0.31") as client:
            answers = await asyncio.gather(
                *(client.get(f"/api/v1/missing/{url[-5:]}-{i % 3}") for i in range(gets)),
                *(
                    client.post("/api/auth/login/", content=body, headers=json_type)
                    for _ in range(logins)
                ),
            )
        assert [a.status_code for a in answers[:gets]] == [404] * gets

    await asyncio.gather(*(traffic(url, *counts) for url, counts in sent.items()))
    admin = await admin_client(first)
    async with admin:
        requests = sum(g + n for g, n in sent.values())
        samples = await wait_for(
            lambda: _samples(admin, "127.0.0.31"),
            lambda items: _total(items, "requests") >= requests,
            timeout=60,
        )
    assert _total(samples, "requests") == requests
    assert _total(samples, "status_404") == 65
    assert _total(samples, "login_failures") == 12
    assert _total(samples, "bytes_in") == 12 * size
    assert {s["login_usernames"] for s in samples if s["login_failures"]} == {1}
    assert max(s["replicas"] for s in samples) <= 2
    assert all(s["not_found_paths"] <= 6 for s in samples)  # 3 paths per replica
    # Each replica's rows are its own: two replicas, one address.
    engine = make_engine(first.env["TAICHU_DATABASE_URL"])
    try:
        async with engine.connect() as conn:
            replicas = set(
                await conn.scalars(
                    select(TrafficSample.replica).where(TrafficSample.ip == "127.0.0.31")
                )
            )
    finally:
        await engine.dispose()
    assert len(replicas) == 2


async def test_samples_past_retention_are_purged(serve: Any, database: str) -> None:
    now = utcnow().replace(microsecond=0)
    engine = make_engine(database)
    rows = []
    for ip, age in (("10.9.0.1", timedelta(days=3)), ("10.9.0.2", timedelta(hours=1))):
        row = Counts().row()
        row.update(requests=1, status_2xx=1)
        rows.append(
            {
                **row,
                "window_start": now - age,
                "ip": ip,
                "replica": "elsewhere",
                "ip_key": ip_key(ip),
                "window_seconds": 60,
            }
        )
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(TrafficSample), rows)
    finally:
        await engine.dispose()
    server = await serve(
        TAICHU_ANOMALY__RETENTION_DAYS="2", TAICHU_ANOMALY__RETENTION_INTERVAL_SECONDS="1"
    )
    admin = await admin_client(server)
    async with admin:
        await wait_for(lambda: _samples(admin, "10.9.0.1"), lambda items: items == [])
        kept = await _samples(admin, "10.9.0.2")
    assert [s["requests"] for s in kept] == [1]
