"""Login-flood benchmark: does a burst of logins slow everything else down?

Starts a real `taichu serve` (SQLite in a temp dir unless --database-url), measures p50/p99
of `GET /healthz` and of an authenticated `GET /api/v1/auth/profile` on the idle server,
then floods it with logins (--concurrency at once from a separate process, bounded by
--logins and --seconds, loopback only) while measuring the same two requests again.
Prints login/s and both sets of figures side by side with their ratio; the target is a
p99 during the flood under 3x the idle p99.

    .venv/bin/python bench/login_flood.py --concurrency 64 --logins 800 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.config import default_hash_threads
from tests.support.server import ServerProcess, free_port, login_token, server_env

ADMIN_PASSWORD = "Flood-Bench-2026"
PROBES = ("/healthz", "/api/v1/auth/profile")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def probe(base: str, token: str, until: asyncio.Event | float) -> dict[str, list[float]]:
    """One request at a time, alternating the probes, until a deadline or an event."""
    samples: dict[str, list[float]] = {path: [] for path in PROBES}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while True:
            if isinstance(until, float) and time.monotonic() >= until:
                break
            if isinstance(until, asyncio.Event) and until.is_set():
                break
            for path in PROBES:
                started = time.perf_counter()
                try:
                    response = await http.get(path, headers=headers)
                    assert response.status_code == 200, (path, response.text)
                except httpx.TimeoutException:
                    pass  # counted at its full wait: a stalled server is what this measures
                samples[path].append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
    return samples


def flood(base: str, concurrency: int, logins: int, seconds: float, out: object) -> None:
    """In its own process, so the flood's client work does not slow the probes' client."""

    async def run() -> None:
        done = failed = 0
        deadline = time.monotonic() + seconds  # no new login after it
        limits = httpx.Limits(max_connections=concurrency)
        body = {"username": "admin", "password": ADMIN_PASSWORD}
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

            async def worker() -> None:
                nonlocal done, failed
                while done + failed < logins and time.monotonic() < deadline:
                    response = await http.post("/api/v1/auth/login", json=body)
                    if response.status_code == 200:
                        done += 1
                    else:
                        failed += 1

            started = time.monotonic()
            tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
            # The time bound: logins still in flight then are abandoned, not counted, and
            # the figures go out before anything waits on their cancellation.
            await asyncio.wait(tasks, timeout=seconds)
            out.put((done, failed, time.monotonic() - started))  # type: ignore[attr-defined]
            for task in tasks:
                task.cancel()

    asyncio.run(run())


async def measure_flood(
    base: str, token: str, args: argparse.Namespace
) -> tuple[dict[str, list[float]], tuple[int, int, float]]:
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    worker = spawn.Process(
        target=flood, args=(base, args.concurrency, args.logins, args.seconds, results)
    )
    stop = asyncio.Event()
    probing = asyncio.create_task(probe(base, token, stop))
    worker.start()
    outcome = await asyncio.to_thread(results.get, True, args.seconds + 180)
    stop.set()
    worker.join(10)
    if worker.is_alive():
        worker.terminate()
    return await probing, outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=64, help="logins at once (50-100)")
    parser.add_argument("--logins", type=int, default=800, help="at most this many logins")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most this long")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--hash-threads", type=int, default=None, help="server's hash pool size")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="taichu-flood-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/flood.db"
    env = server_env(
        url,
        tmp / "data",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY="flood-bench-secret-0123456789abcdef",
        TAICHU_LOG_LEVEL="warning",
    )
    if args.hash_threads:
        env["TAICHU_AUTH__HASH_THREADS"] = str(args.hash_threads)
    if not url.startswith("sqlite"):
        import subprocess

        subprocess.run([sys.executable, "-m", "taichu.cli", "migrate"], env=env, check=True)
    server = ServerProcess(env, free_port(), tmp / "server.log")
    server.start()
    try:
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        idle = asyncio.run(probe(server.url, token, time.monotonic() + args.idle_seconds))
        loaded, (done, failed, elapsed) = asyncio.run(measure_flood(server.url, token, args))
    finally:
        server.kill(15)
    hash_threads = env.get("TAICHU_AUTH__HASH_THREADS", f"{default_hash_threads()} (default)")
    print(
        f"login flood: {args.concurrency} concurrent, {os.cpu_count()} cores, "
        f"hash threads {hash_threads}, db={'sqlite' if url.startswith('sqlite') else 'postgresql'}"
    )
    print(f"  logins: {done} ok, {failed} refused in {elapsed:.1f}s = {done / elapsed:.1f} login/s")
    worst = 0.0
    for path in PROBES:
        a, b = idle[path], loaded[path]
        ratio = pct(b, 0.99) / pct(a, 0.99)
        worst = max(worst, ratio)
        print(
            f"  GET {path:<22} idle p50 {pct(a, 0.5):6.1f} ms p99 {pct(a, 0.99):6.1f} ms "
            f"(n={len(a)}) | flood p50 {pct(b, 0.5):6.1f} ms p99 {pct(b, 0.99):6.1f} ms "
            f"(n={len(b)}) | p99 ratio {ratio:.2f}x"
        )
    print(f"  target p99 during the flood < 3x idle: {'met' if worst < 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
