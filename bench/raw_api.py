"""The API server's own limits, measured with the least a client can do: paged LISTs and
POSTs of ready-made bodies over plain HTTP (aiohttp, the cluster's TLS), nothing decoded
beyond what a page's count and continue token need. The bench compares the engines with
these rates, taken in the same run against the same cluster."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from taichu.kube import parse_kubeconfig
from taichu.kube.tls import ssl_context

PAGE_SIZE = 500  # the backup engine's page size (BackupSpec.page_size)
LIST_CONCURRENCY = 4  # listings at once, as the backup engine (BackupSpec.concurrency)


@dataclass
class Rate:
    objects: int
    seconds: float
    bytes: int = 0
    failed: int = 0

    @property
    def per_second(self) -> float:
        return self.objects / self.seconds if self.seconds > 0 else 0.0


def page_url(server: str, path: str, limit: int, token: str | None) -> str:
    query = {"limit": str(limit)}
    if token:
        query["continue"] = token
    return f"{server}{path}?{urlencode(query)}"


def read_page(body: bytes) -> tuple[int, str | None]:
    """(items on the page, the continue token or None on the last page)."""
    doc = json.loads(body)
    token = (doc.get("metadata") or {}).get("continue") or None
    return len(doc.get("items") or []), token


def _session(kubeconfig: str, connections: int) -> tuple[aiohttp.ClientSession, str]:
    access = parse_kubeconfig(kubeconfig)
    connector = aiohttp.TCPConnector(ssl=ssl_context(access), limit=connections)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if access.token:
        headers["Authorization"] = f"Bearer {access.token}"
    session = aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=120),
        trust_env=False,
        read_bufsize=2**21,
    )
    return session, access.servers[0]


async def paged_list(
    kubeconfig: str,
    paths: Sequence[str],
    *,
    page_size: int = PAGE_SIZE,
    concurrency: int = LIST_CONCURRENCY,
) -> Rate:
    """Every object of `paths` (collection paths, cluster-wide), `concurrency` listings at
    once, each in pages of `page_size` followed by their continue tokens."""
    session, server = _session(kubeconfig, concurrency)
    gate = asyncio.Semaphore(concurrency)
    total = {"objects": 0, "bytes": 0}

    async def one(path: str) -> None:
        async with gate:
            token: str | None = None
            while True:
                async with session.get(page_url(server, path, page_size, token)) as answer:
                    body = await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"LIST {path}: {answer.status} {body[:300]!r}")
                count, token = read_page(body)
                total["objects"] += count
                total["bytes"] += len(body)
                if token is None:
                    return

    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(p) for p in paths))
        return Rate(total["objects"], time.perf_counter() - start, total["bytes"])
    finally:
        await session.close()


async def best_list(kubeconfig: str, paths: Sequence[str], runs: int = 3) -> Rate:
    """The fastest of `runs` full listings (the first warms the API server's caches)."""
    results = [await paged_list(kubeconfig, paths) for _ in range(runs)]
    return min(results, key=lambda r: r.seconds)


async def create_all(
    kubeconfig: str, work: Sequence[tuple[str, dict[str, Any]]], concurrency: int
) -> Rate:
    """POST every (collection path, body), `concurrency` in flight; bodies are encoded
    before the clock starts. Anything but 201 counts as failed."""
    encoded = [(path, json.dumps(body).encode()) for path, body in work]
    session, server = _session(kubeconfig, concurrency)
    gate = asyncio.Semaphore(concurrency)
    failed: list[str] = []

    async def one(path: str, body: bytes) -> None:
        async with gate, session.post(f"{server}{path}", data=body) as answer:
            await answer.read()
            if answer.status != 201:
                failed.append(f"{path}: {answer.status}")

    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(p, b) for p, b in encoded))
        seconds = time.perf_counter() - start
    finally:
        await session.close()
    if failed:
        raise RuntimeError(f"{len(failed)} creates failed, first: {failed[:3]}")
    return Rate(len(encoded), seconds, sum(len(b) for _, b in encoded))
