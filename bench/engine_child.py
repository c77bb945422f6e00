"""One engine run of bench/backup_restore.py in a process of its own, so its peak RSS
(VmHWM) and CPU time are the engine's alone. Prints one JSON line.

    engine_child.py backup  <kubeconfig> <key> [namespace ...]
    engine_child.py restore <kubeconfig> <key> <spool file> <concurrency>

The archive store (MinIO) comes from TAICHU_BENCH_S3="<endpoint> <bucket>"."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.backups.collect import BackupSpec, Collector
from taichu.backups.reader import Verifier
from taichu.backups.restore import Restorer, RestoreSpec, RestoreState
from taichu.backups.storage import S3Storage
from taichu.backups.writer import ArchiveWriter
from taichu.config import BackupSettings
from taichu.crypto import derive_key
from taichu.kube import KubeClient, parse_kubeconfig
from tests.backups.minio import ACCESS_KEY, SECRET_KEY

KEK = derive_key(b"bench-master-secret-0123456789", "backup-archive-kek")
S3_ENV = "TAICHU_BENCH_S3"


def s3_storage() -> S3Storage:
    endpoint, bucket = os.environ[S3_ENV].split(" ")
    return S3Storage(
        BackupSettings(
            storage="s3",
            s3_endpoint=endpoint,
            s3_bucket=bucket,
            s3_prefix="bench",
            s3_access_key_id=ACCESS_KEY,
            s3_secret_access_key=SECRET_KEY,
        )
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- engine runs, each in its own process ------------------------------------------------


async def child_backup(kubeconfig: str, key: str, namespaces: list[str]) -> dict[str, Any]:
    async def progress(done: int, total: int, step: str) -> None:
        return None

    kube = KubeClient(parse_kubeconfig(kubeconfig), request_timeout=60)
    storage = s3_storage()
    upload = await storage.upload(key)
    writer = ArchiveWriter(
        upload, backup_id="bench", cluster_id="bench", created_at="", kek=KEK, chunk_size=256 << 10
    )
    spec = BackupSpec("namespaces" if namespaces else "full", included_namespaces=namespaces)
    start = time.perf_counter()
    result = await Collector(kube, writer, spec, progress).run()
    size, _ = await writer.finish({"counts": result.counts})
    await upload.commit()
    seconds = time.perf_counter() - start
    await kube.close()
    await storage.close()
    return {
        "objects": result.total,
        "seconds": seconds,
        "bytes": size,
        "key": key,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": cpu_seconds(),
    }


async def child_restore(kubeconfig: str, key: str, spool: Path, concurrency: int) -> dict[str, Any]:
    """Download and verify (spooled to a file, as the platform does for S3), then restore."""

    async def report(state: RestoreState, force: bool) -> None:
        return None

    start = time.perf_counter()
    storage = s3_storage()
    verifier = Verifier(KEK)
    with spool.open("wb") as out:
        async for data in storage.read(key):
            verifier.feed(data)
            out.write(data)
    verified = verifier.finish()
    await storage.close()
    verify_seconds = time.perf_counter() - start
    kube = KubeClient(parse_kubeconfig(kubeconfig), request_timeout=60, max_connections=concurrency)
    state = RestoreState()
    start = time.perf_counter()
    with spool.open("rb") as handle:
        await Restorer(
            kube,
            verified,
            handle,
            RestoreSpec(restore_id="bench", concurrency=concurrency),
            state,
            report,
        ).run()
    seconds = time.perf_counter() - start
    await kube.close()
    counts = state.counts
    return {
        "objects": state.total,
        "seconds": seconds,
        "verify_seconds": verify_seconds,
        "created": sum(c["created"] for c in counts.values()),
        "failed": state.failed,
        "errors": state.errors[:3],
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": cpu_seconds(),
    }


def main() -> None:
    kind, kubeconfig, key, *rest = sys.argv[1:]
    text = Path(kubeconfig).read_text()
    if kind == "backup":
        result = asyncio.run(child_backup(text, key, rest))
    else:
        result = asyncio.run(child_restore(text, key, Path(rest[0]), int(rest[1])))
        Path(rest[0]).unlink()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
