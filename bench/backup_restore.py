"""Backup and restore at scale: 10,000 objects out of one lab cluster and into another.

    python bench/backup_restore.py                  # 10,000 objects in 20 namespaces
    python bench/backup_restore.py --objects 2000   # quick

Builds cluster A and fills it with ConfigMaps, Secrets, ServiceAccounts, Roles and
RoleBindings, created in parallel (32 at a time, as the restore does): that is the *raw
create rate*. Then, all in the same run:
- the *raw list rate*: `kubectl get <those kinds> -A -o json` over the same objects;
- a full backup of A by the platform's engine (discovery, every type listed in pages,
  stripped, compressed, encrypted, checksummed, written to a local archive);
- the archive's verification, and a full restore of it into an empty cluster B;
- memory: the same backup and restore of a fifth of the namespaces, to compare peaks.
Each engine run is its own process, so its peak RSS (VmHWM) is the engine's alone; the
job runner adds one database write per second of progress on top of these figures.
Targets: backup >= 80 % of the raw list rate; restore >= 1,000 objects/s; peak memory
about the same at a fifth of the objects as at all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taichu.backups.collect import BackupSpec, Collector
from taichu.backups.reader import Verifier
from taichu.backups.restore import Restorer, RestoreSpec, RestoreState
from taichu.backups.storage import LocalStorage
from taichu.backups.writer import ArchiveWriter
from taichu.crypto import derive_key
from taichu.kube import KubeClient, parse_kubeconfig
from taichu.lab.cluster import LabCluster

KEK = derive_key(b"bench-master-secret-0123456789", "backup-archive-kek")
KINDS = "configmaps,secrets,serviceaccounts,roles,rolebindings"
CONCURRENCY = 32


def _objects(namespace: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, body) of `count` objects in `namespace`, in a realistic mix."""
    out: list[tuple[str, dict[str, Any]]] = []
    base = f"/api/v1/namespaces/{namespace}"
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    for i in range(count):
        meta = {
            "name": f"obj-{i}",
            "namespace": namespace,
            "labels": {"app": f"app-{i % 17}", "bench": "yes"},
        }
        slot = i % 10
        if slot < 6:
            out.append(
                (
                    f"{base}/configmaps",
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": meta,
                        "data": {"config.yaml": f"key: value-{i}\n" * 20, "index": str(i)},
                    },
                )
            )
        elif slot < 8:
            out.append(
                (
                    f"{base}/secrets",
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": meta,
                        "type": "Opaque",
                        "data": {"token": base64.b64encode(os.urandom(48)).decode()},
                    },
                )
            )
        elif slot == 8:
            out.append(
                (
                    f"{base}/serviceaccounts",
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
                )
            )
        elif i % 20 == 9:
            out.append(
                (
                    f"{rbac}/roles",
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "Role",
                        "metadata": meta,
                        "rules": [
                            {
                                "apiGroups": [""],
                                "resources": ["configmaps"],
                                "verbs": ["get", "list"],
                            }
                        ],
                    },
                )
            )
        else:
            out.append(
                (
                    f"{rbac}/rolebindings",
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "RoleBinding",
                        "metadata": meta,
                        "roleRef": {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "Role",
                            "name": "obj-9",
                        },
                        "subjects": [
                            {"kind": "ServiceAccount", "name": "default", "namespace": namespace}
                        ],
                    },
                )
            )
    return out


async def populate(kubeconfig: str, namespaces: list[str], per_namespace: int) -> float:
    """Create everything, CONCURRENCY at a time; returns the objects per second."""
    kube = KubeClient(parse_kubeconfig(kubeconfig), request_timeout=60, max_connections=CONCURRENCY)
    try:
        for ns in namespaces:
            await kube.create(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        work = [item for ns in namespaces for item in _objects(ns, per_namespace)]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(path: str, body: dict[str, Any]) -> None:
            async with gate:
                await kube.create(path, body)

        start = time.perf_counter()
        await asyncio.gather(*(one(p, b) for p, b in work))
        return len(work) / (time.perf_counter() - start)
    finally:
        await kube.close()


def raw_list_rate(lab: LabCluster, runs: int = 3) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        out = lab.kubectl("get", KINDS, "-A", "-o", "json", timeout=600).stdout
        best = min(best, time.perf_counter() - start)
        count = len(json.loads(out)["items"])
    return count / best, count


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- engine runs, each in its own process ------------------------------------------------


async def child_backup(kubeconfig: str, out: Path, namespaces: list[str]) -> dict[str, Any]:
    async def progress(done: int, total: int, step: str) -> None:
        return None

    kube = KubeClient(parse_kubeconfig(kubeconfig), request_timeout=60)
    storage = LocalStorage(out)
    upload = await storage.upload("bench/archive.tbk")
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
    return {
        "objects": result.total,
        "seconds": seconds,
        "bytes": size,
        "path": storage.location("bench/archive.tbk"),
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": cpu_seconds(),
    }


async def child_restore(kubeconfig: str, archive: Path, concurrency: int) -> dict[str, Any]:
    async def report(state: RestoreState, force: bool) -> None:
        return None

    start = time.perf_counter()
    verifier = Verifier(KEK)
    with archive.open("rb") as handle:
        while data := handle.read(1 << 20):
            verifier.feed(data)
    verified = verifier.finish()
    verify_seconds = time.perf_counter() - start
    kube = KubeClient(parse_kubeconfig(kubeconfig), request_timeout=60, max_connections=concurrency)
    state = RestoreState()
    start = time.perf_counter()
    with archive.open("rb") as handle:
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


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument(
        "--restore-concurrency",
        type=int,
        default=CONCURRENCY,
        help="objects the restore creates at once (the platform's default: "
        "TAICHU_BACKUPS__RESTORE_CONCURRENCY=32)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, kubeconfig, path, *rest = args.child
        text = Path(kubeconfig).read_text()
        if kind == "backup":
            result = asyncio.run(child_backup(text, Path(path), rest))
        else:
            result = asyncio.run(child_restore(text, Path(path), int(rest[0])))
        print(json.dumps(result))
        return

    names = [f"bench-{i:02d}" for i in range(args.namespaces)]
    per_namespace = args.objects // args.namespaces
    fifth = names[: max(1, len(names) // 5)]
    with (
        tempfile.TemporaryDirectory(prefix="taichu-bench-") as tmp,
        LabCluster("bench-src") as source,
        LabCluster("bench-dst") as target,
        LabCluster("bench-dst2") as small_target,
    ):
        work = Path(tmp)
        for lab in (source, target, small_target):
            lab.create_nodes(1)
        print(f"creating {per_namespace * len(names):,} objects in {len(names)} namespaces")
        create_rate = asyncio.run(populate(source.kubeconfig, names, per_namespace))
        list_rate, listed = raw_list_rate(source)

        full = run_child("backup", str(source.kubeconfig_path), str(work / "full"))
        small = run_child("backup", str(source.kubeconfig_path), str(work / "small"), *fifth)
        parallel = str(args.restore_concurrency)
        restore_small = run_child(
            "restore", str(small_target.kubeconfig_path), small["path"], parallel
        )
        restore = run_child("restore", str(target.kubeconfig_path), full["path"], parallel)

    backup_rate = full["objects"] / full["seconds"]
    restore_rate = restore["objects"] / restore["seconds"]
    print(
        f"\nraw create rate (parallel POST, {CONCURRENCY} in flight): {create_rate:8.0f} objects/s"
    )
    print(
        f"raw list rate   (kubectl get {KINDS} -A -o json, {listed:,} objects): "
        f"{list_rate:8.0f} objects/s"
    )
    print(
        f"backup          {full['objects']:,} objects in {full['seconds']:.2f}s: "
        f"{backup_rate:8.0f} objects/s = {100 * backup_rate / list_rate:.0f} % of the raw "
        f"list rate (target >= 80 %); archive {full['bytes'] / 1e6:.1f} MB"
    )
    print(f"verify          {restore['verify_seconds']:.2f}s for the whole archive")
    print(
        f"restore         {restore['objects']:,} objects in {restore['seconds']:.2f}s: "
        f"{restore_rate:8.0f} objects/s (target >= 1,000) = "
        f"{100 * restore_rate / create_rate:.0f} % of the raw create rate; "
        f"created {restore['created']:,}, failed {restore['failed']} {restore['errors']}; "
        f"engine CPU {restore['cpu_seconds']:.1f}s"
    )
    print(
        f"memory (peak RSS of the engine process): backup {small['objects']:,} objects "
        f"{small['peak_rss_mb']:.0f} MB vs {full['objects']:,} objects "
        f"{full['peak_rss_mb']:.0f} MB; restore {restore_small['objects']:,} objects "
        f"{restore_small['peak_rss_mb']:.0f} MB vs {restore['objects']:,} objects "
        f"{restore['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
