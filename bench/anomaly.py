"""Traffic-sampling benchmark: what does sampling cost, and what does a busy minute cost?

Starts two real `taichu serve` processes in the same run (SQLite in a temp dir each, or
--database-url for PostgreSQL), one with sampling off (`TAICHU_ANOMALY__ENABLED=false`)
and one with it on, and measures requests/s of `GET /healthz` (the cheapest request: the
middleware's share is largest there) and of an authenticated `GET /api/auth/me/`,
loading both at the same time (a load process each, from several loopback addresses) so
whatever else the machine does slows both alike. Target: on/off >= 0.9.

Then it sends one request from each of --addresses distinct loopback addresses
(127.0.x.y) to the sampling server within one window, waits for the window's flush and
reads the server's own counters (/metrics): writes (transactions), statements and rows.
Target: one batched write per replica (one transaction, one statement) for the window.
With --database-url (PostgreSQL) both servers share the database, as replicas do.

    .venv/bin/python bench/anomaly.py --seconds 10 --rounds 2 --addresses 1000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess, free_port, login_token, server_env

ADMIN_PASSWORD = "Anomaly-Bench-2026"
PROBES = ("/healthz", "/api/auth/me/")
METRICS = ("flushes", "flush_statements", "samples_written", "flush_seconds")


def load(base: str, path: str, token: str, seconds: float, concurrency: int, out: object) -> None:
    """In its own process: `concurrency` clients (each from its own loopback address,
    keep-alive) request `path` for `seconds`; puts (requests done, errors, elapsed)."""

    async def run() -> None:
        done = errors = 0
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + seconds

        async def worker(i: int) -> None:
            nonlocal done, errors
            transport = httpx.AsyncHTTPTransport(local_address=f"127.0.9.{i + 1}")
            async with httpx.AsyncClient(base_url=base, transport=transport, timeout=30) as http:
                while time.monotonic() < deadline:
                    response = await http.get(path, headers=headers)
                    if response.status_code == 200:
                        done += 1
                    else:
                        errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        out.put((done, errors, time.monotonic() - started))  # type: ignore[attr-defined]

    asyncio.run(run())


def measure_both(
    servers: dict[str, ServerProcess], path: str, tokens: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    """Load both servers at the same time (one load process each): whatever else the
    machine does in those seconds slows both alike, so their ratio is the sampling's."""
    spawn = multiprocessing.get_context("spawn")
    queues, workers = {}, []
    for label, server in servers.items():
        queues[label] = spawn.Queue()
        worker = spawn.Process(
            target=load,
            args=(server.url, path, tokens[label], args.seconds, args.concurrency, queues[label]),
        )
        workers.append(worker)
    for worker in workers:
        worker.start()
    rates = {}
    for label, queue in queues.items():
        done, errors, elapsed = queue.get(True, args.seconds + 120)
        if errors:
            print(f"    ({errors} non-200 answers from {path} ignored)")
        rates[label] = done / elapsed
    for worker in workers:
        worker.join(10)
    return rates


def counters(server: ServerProcess, token: str) -> dict[str, float]:
    text = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).text
    values = {}
    for name in METRICS:
        found = re.search(rf"^taichu_traffic_{name}_total (\S+)$", text, re.MULTILINE)
        values[name] = float(found.group(1)) if found else 0.0
    return values


async def many_addresses(host: str, port: int, count: int) -> float:
    """One request from each of `count` loopback addresses (a bare HTTP/1.1 GET over its
    own socket: creating an HTTP client per address would cost more than the server's
    answer), 64 at a time; returns the seconds taken."""
    gate = asyncio.Semaphore(64)
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()

    async def one(i: int) -> None:
        address = f"127.0.{10 + i // 250}.{1 + i % 250}"
        async with gate:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(address, 0))
            writer.write(request)
            status = await asyncio.wait_for(reader.readline(), 60)
            await reader.read()
            writer.close()
            assert b" 200 " in status, status

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.monotonic() - started


def start(tmp: Path, name: str, args: argparse.Namespace, **extra: str) -> ServerProcess:
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/{name}.db"
    env = server_env(
        url,
        tmp / f"data-{name}",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY="anomaly-bench-secret-0123456789abcdef",
        TAICHU_LOG_LEVEL="warning",
        TAICHU_ANOMALY__WINDOW_SECONDS=str(args.window),
        **extra,
    )
    if not url.startswith("sqlite"):
        subprocess.run([sys.executable, "-m", "taichu.cli", "migrate"], env=env, check=True)
    server = ServerProcess(env, free_port(), tmp / f"{name}.log")
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and probe")
    parser.add_argument("--rounds", type=int, default=2, help="off/on rounds")
    parser.add_argument("--concurrency", type=int, default=16, help="clients at once")
    parser.add_argument("--addresses", type=int, default=1000, help="distinct addresses")
    parser.add_argument("--window", type=int, default=60, help="sample window (s): a minute")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="taichu-anomaly-"))
    off = start(tmp, "off", args, TAICHU_ANOMALY__ENABLED="false")
    on = start(tmp, "on", args)
    servers = (("off", off), ("on", on))
    try:
        tokens = {label: login_token(s.url, "admin", ADMIN_PASSWORD) for label, s in servers}
        rates: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for path in PROBES:
                for label, rate in measure_both(dict(servers), path, tokens, args).items():
                    rates.setdefault((label, path), []).append(rate)
        # Start just after a window began and the one before was written, so the burst
        # falls in one window and the counters before it include every earlier write.
        into = time.time() % args.window
        time.sleep(args.window - into + min(2.0, args.window / 4))
        before = counters(on, tokens["on"])
        burst = asyncio.run(many_addresses("127.0.0.1", on.port, args.addresses))
        deadline = time.monotonic() + 2 * args.window + 30
        after = counters(on, tokens["on"])
        while after["samples_written"] - before["samples_written"] < args.addresses:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            after = counters(on, tokens["on"])
    finally:
        off.kill(15)
        on.kill(15)
    db = "sqlite" if not args.database_url else "postgresql"
    print(
        f"traffic sampling: {os.cpu_count()} cores, db={db}, {args.concurrency} clients, "
        f"{args.rounds} x {args.seconds:.0f}s rounds per probe and mode"
    )
    worst = None
    for path in PROBES:
        off_rate = sum(rates[("off", path)]) / args.rounds
        on_rate = sum(rates[("on", path)]) / args.rounds
        ratio = on_rate / off_rate
        worst = ratio if worst is None else min(worst, ratio)
        print(
            f"  GET {path:<14} sampling off {off_rate:8.1f} req/s | on {on_rate:8.1f} req/s"
            f" | ratio {ratio:.3f}"
        )
    print(f"  target on/off >= 0.9: {'met' if worst is not None and worst >= 0.9 else 'NOT met'}")
    delta = {name: after[name] - before[name] for name in METRICS}
    print(
        f"  {args.addresses} distinct addresses in {burst:.1f}s (window {args.window}s): "
        f"{delta['flushes']:.0f} write(s), {delta['flush_statements']:.0f} statement(s), "
        f"{delta['samples_written']:.0f} sample rows, {delta['flush_seconds'] * 1000:.1f} ms "
        "in the database"
    )
    windows = int(burst // args.window) + 1  # windows the burst may have touched
    one = delta["flushes"] <= windows and delta["flush_statements"] == delta["flushes"]
    print(
        f"  target one batched write per replica and window: {'met' if one else 'NOT met'}"
        + ("" if burst < args.window else f" (the burst outlasted the window: {windows})")
    )


if __name__ == "__main__":
    main()
