"""Machines benchmark: checks of many real lab SSH hosts at once.

Starts N lab SSH hosts, a real `taichu serve` (reachability monitor effectively off), adds
every host through the API (password and key logins alternate) and waits for their first
checks; then measures `GET /api/v1/machines` on the idle server, triggers the check of every
machine at once (`POST /machines/{id}/check`) and measures, in the same run, how long the
sweep takes (until every machine has a newer `last_checked_at`) and the same list request
while it runs.

    .venv/bin/python bench/machines.py --hosts 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.lab.janitor import cleanup_all, install_signal_handlers
from taichu.lab.ssh_hosts import SshHost, start_ssh_hosts
from tests.support.server import ServerProcess, free_port, login_token, server_env

ADMIN_PASSWORD = "Machines-Bench-2026"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def body(host: SshHost, i: int) -> dict[str, Any]:
    creds = host.credentials()
    entry: dict[str, Any] = {
        "name": f"bench-{i:03d}",
        "ip_address": host.address,
        "internal_address": host.address,
        "port": host.port,
        "user": host.username,
        "role": "worker" if i % 5 else "master",
        "host_key": host.host_public_key,
        "labels": {"bench": "machines"},
    }
    if i % 2:
        entry["private_key"] = host.private_key
    else:
        entry["password"] = creds["password"]
    return entry


def _when(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def checked_at(http: httpx.AsyncClient, ids: list[str]) -> dict[str, tuple[float, str]]:
    """id -> (last_checked_at, status), from one page of the list (it carries both)."""
    response = await http.get("/api/v1/machines", params={"limit": 100, "label_selector": "bench"})
    assert response.status_code == 200, response.text
    seen = {
        m["id"]: (_when(m.get("last_checked_at")), str(m["status"]))
        for m in response.json()["data"]["machines"]
    }
    return {mid: seen.get(mid, (0.0, "missing")) for mid in ids}


async def wait_checked(
    http: httpx.AsyncClient, ids: list[str], after: float, within: float
) -> dict[str, tuple[float, str]]:
    deadline = time.monotonic() + within
    while True:
        seen = await checked_at(http, ids)
        if all(t > after for t, _ in seen.values()) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.25)


async def measure_list(http: httpx.AsyncClient, stop: asyncio.Event, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.perf_counter()
        response = await http.get("/api/v1/machines?page=1&limit=20")
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.02)
    return latencies


async def bench(base: str, token: str, hosts: list[SshHost], within: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http,
        httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as lister,
    ):
        started = time.monotonic()
        created = await asyncio.gather(
            *(http.post("/api/v1/machines", json=body(h, i)) for i, h in enumerate(hosts))
        )
        for response in created:
            assert response.status_code in (200, 201), response.text
        ids = [r.json()["data"]["id"] for r in created]
        first = await wait_checked(http, ids, 0.0, within)
        added = time.monotonic() - started

        idle = await measure_list(lister, asyncio.Event(), 10)

        stop = asyncio.Event()
        loaded_task = asyncio.create_task(measure_list(lister, stop, within))
        await asyncio.sleep(0.5)  # the list is being measured before the sweep starts
        trigger_wall, trigger = time.time(), time.monotonic()
        triggered = await asyncio.gather(*(http.post(f"/api/v1/machines/{m}/check") for m in ids))
        for response in triggered:
            assert response.status_code in (200, 202), response.text
        swept = await wait_checked(http, ids, trigger_wall, within)
        sweep = time.monotonic() - trigger
        stop.set()
        loaded = await loaded_task
    return {
        "added": added,
        "first_statuses": _count(s for _, s in first.values()),
        "idle": idle,
        "loaded": loaded,
        "sweep": sweep,
        "swept_all": all(t > trigger_wall for t, _ in swept.values()),
        "statuses": _count(s for _, s in swept.values()),
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()

    install_signal_handlers()
    tmp = Path(tempfile.mkdtemp(prefix="taichu-machines-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/machines.db"
    hosts: list[SshHost] = []
    try:
        started = time.monotonic()
        hosts = start_ssh_hosts(args.hosts, prefix="benchhost")
        hosts_up = time.monotonic() - started
        env = server_env(
            url,
            tmp / "data",
            TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
            TAICHU_SECRET_KEY="machines-bench-secret-0123456789abcdef",
            TAICHU_LOG_LEVEL="warning",
            TAICHU_MACHINES__CHECK_INTERVAL="86400",  # the sweep measured is ours alone
        )
        if not url.startswith("sqlite"):
            import subprocess

            subprocess.run([sys.executable, "-m", "taichu.cli", "migrate"], env=env, check=True)
        server = ServerProcess(env, free_port(), tmp / "server.log")
        server.start()
        try:
            token = login_token(server.url, "admin", ADMIN_PASSWORD)
            result = asyncio.run(bench(server.url, token, hosts, args.timeout))
        finally:
            server.kill(15)
    finally:
        for host in hosts:
            host.destroy()
        cleanup_all()
    idle, loaded = result["idle"], result["loaded"]
    print(
        f"machines: {args.hosts} lab SSH hosts (started in {hosts_up:.1f}s), "
        f"{os.cpu_count()} cores, db={'sqlite' if url.startswith('sqlite') else 'postgresql'}"
    )
    print(
        f"  added through the API + first checks: {result['added']:.1f}s; "
        f"statuses {result['first_statuses']}"
    )
    print(
        f"  sweep (all {args.hosts} checks triggered at once, until every one is newer): "
        f"{result['sweep']:.1f}s; every machine re-checked: {result['swept_all']}; "
        f"statuses {result['statuses']}"
    )
    print(
        f"  GET /machines idle:         p50 {pct(idle, 0.5):.1f} ms, "
        f"p99 {pct(idle, 0.99):.1f} ms (n={len(idle)})"
    )
    print(
        f"  GET /machines during sweep: p50 {pct(loaded, 0.5):.1f} ms, "
        f"p99 {pct(loaded, 0.99):.1f} ms (n={len(loaded)}); "
        f"p99 ratio {pct(loaded, 0.99) / pct(idle, 0.99):.2f}x; "
        f"mean {statistics.mean(loaded) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
