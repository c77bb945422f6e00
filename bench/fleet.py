"""Fleet benchmark: thousands of registered clusters under the health monitor.

Registers N clusters (through the API, so each is validated and probed like an operator's)
pointing at a few real lab API servers, runs `taichu serve` with a short heartbeat, then
reports: the duration of one health sweep over all clusters, the server's CPU share
during sweeps, and p50/p99 of `GET /api/v1/clusters` while sweeps run. The baseline, in the
same run, is the same request on an idle server (no monitor) — so figures are ratios too.

    .venv/bin/python bench/fleet.py --clusters 2000 --interval 15 --duration 45
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.lab.binaries import ensure_binaries
from taichu.lab.cluster import LabCluster
from taichu.lab.janitor import cleanup_all, install_signal_handlers
from tests.support.server import ServerProcess, free_port, server_env

ADMIN_PASSWORD = "Fleet-Bench-2026"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children (the server's job worker)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / CLK_TCK
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += cpu_seconds(int(child))
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def register_all(base: str, token: str, kubeconfigs: list[str], count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    semaphore = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def one(i: int) -> None:
            async with semaphore:
                response = await http.post(
                    "/api/v1/clusters",
                    headers=headers,
                    json={
                        "name": f"fleet-{i:05d}",
                        "kubeconfig": kubeconfigs[i % len(kubeconfigs)],
                        "labels": {"env": ("prod", "staging", "dev")[i % 3], "shard": str(i % 10)},
                    },
                )
                response.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(count)))


async def measure_list(base: str, token: str, seconds: float) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await http.get("/api/v1/clusters?page=3&limit=20", headers=headers)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.02)
    return latencies


async def sweep_durations(env: dict[str, str]) -> list[float]:
    """Per tick: when its last shard job finished minus when the tick enqueued them."""
    from sqlalchemy import text

    from taichu.db.session import make_engine

    engine = make_engine(env["TAICHU_DATABASE_URL"])
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT created_at, finished_at FROM jobs WHERE kind = 'cluster.health' "
                    "AND finished_at IS NOT NULL ORDER BY created_at"
                )
            )
        ).all()
    await engine.dispose()
    ticks: dict[str, list[tuple[float, float]]] = {}
    for created, finished in rows:
        created_t = _ts(created)
        # One tick enqueues all its shard jobs in one transaction: same second.
        ticks.setdefault(f"{int(created_t)}", []).append((created_t, _ts(finished)))
    return [max(f for _, f in t) - min(c for c, _ in t) for t in ticks.values()]


def _ts(value: object) -> float:
    from datetime import datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp()  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--lab-clusters", type=int, default=3)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--duration", type=float, default=45.0)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()

    install_signal_handlers()
    binaries = ensure_binaries()
    labs: list[LabCluster] = []
    tmp = Path(tempfile.mkdtemp(prefix="taichu-fleet-"))
    try:
        for i in range(args.lab_clusters):
            lab = LabCluster(f"fleet{i}", binaries=binaries).start()
            lab.create_nodes(5, "worker")
            labs.append(lab)
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/fleet.db"
        base_env = server_env(
            url,
            tmp / "data",
            TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
            TAICHU_SECRET_KEY="fleet-bench-secret-0123456789abcdef",
            TAICHU_LOG_LEVEL="warning",
        )
        if not url.startswith("sqlite"):
            import subprocess

            subprocess.run(
                [sys.executable, "-m", "taichu.cli", "migrate"], env=base_env, check=True
            )
        # Phase 1: registration, monitor effectively off (a very long interval).
        idle = ServerProcess(
            {**base_env, "TAICHU_HEALTH_INTERVAL": "86400"}, free_port(), tmp / "idle.log"
        )
        idle.start()
        token = _login(idle.url)
        started = time.monotonic()
        asyncio.run(register_all(idle.url, token, [lab.kubeconfig for lab in labs], args.clusters))
        registration = time.monotonic() - started
        baseline = asyncio.run(measure_list(idle.url, token, 10))
        idle.kill(15)

        # Phase 2: the monitor sweeps every interval; measure while it does.
        server = ServerProcess(
            {**base_env, "TAICHU_HEALTH_INTERVAL": str(args.interval)},
            free_port(),
            tmp / "server.log",
        )
        server.start()
        token = _login(server.url)
        assert server.proc is not None
        cpu_before, wall_before = cpu_seconds(server.proc.pid), time.monotonic()
        loaded = asyncio.run(measure_list(server.url, token, args.duration))
        cpu_share = (cpu_seconds(server.proc.pid) - cpu_before) / (time.monotonic() - wall_before)
        server.kill(15)
        sweeps = asyncio.run(sweep_durations(base_env))
    finally:
        for lab in labs:
            lab.stop()
        cleanup_all()
    print(
        f"fleet: {args.clusters} clusters on {args.lab_clusters} lab API servers, "
        f"heartbeat {args.interval:g}s, {os.cpu_count()} cores, "
        f"db={'sqlite' if url.startswith('sqlite') else 'postgresql'}"
    )
    print(
        f"  registration (API, 16 parallel): {registration:.1f}s "
        f"({args.clusters / registration:.0f} clusters/s)"
    )
    print(
        f"  sweeps observed: {len(sweeps)}; duration per sweep: "
        + ", ".join(f"{s:.1f}s" for s in sweeps)
    )
    print(
        f"  platform CPU share while sweeping (server + job worker): "
        f"{cpu_share * 100:.0f}% of one core"
    )
    print(
        f"  GET /clusters idle (baseline): p50 {pct(baseline, 0.5):.1f} ms, "
        f"p99 {pct(baseline, 0.99):.1f} ms (n={len(baseline)})"
    )
    print(
        f"  GET /clusters during sweeps:   p50 {pct(loaded, 0.5):.1f} ms, "
        f"p99 {pct(loaded, 0.99):.1f} ms (n={len(loaded)}); "
        f"p99 ratio {pct(loaded, 0.99) / pct(baseline, 0.99):.2f}x; target p99 < 100 ms"
    )
    print(f"  mean {statistics.mean(loaded) * 1000:.1f} ms")


def _login(base: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["data"]["token"])


if __name__ == "__main__":
    main()
