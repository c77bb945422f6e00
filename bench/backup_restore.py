"""Backup and restore at scale, beside Velero and the API server's raw rates, in one run.

    python bench/backup_restore.py                  # 10,000 objects in 20 namespaces
    python bench/backup_restore.py --objects 2000   # quick
    python bench/backup_restore.py --no-velero      # without Velero

Builds cluster A and fills it with ConfigMaps, Secrets, ServiceAccounts, Roles and
RoleBindings, POSTed over plain HTTP 32 at a time (as the restore creates): that is the
*raw create rate*. Then, all in the same run, same objects, same MinIO:
- the *raw list rate*: the API server's paged LIST over HTTP of those kinds, cluster-wide,
  500 a page, 4 listings at once (as the backup engine pages), best of three;
- a full backup of A by the platform's engine (discovery, every type listed in pages,
  stripped, compressed, encrypted, checksummed, uploaded to MinIO);
- the archive's download and verification, and a full restore of it into an empty
  cluster B;
- memory: the same backup and restore of a fifth of the namespaces, to compare peaks;
- Velero (scripts/velero-build.sh: Velero and its AWS plugin from their Go modules):
  its CRDs installed into A, `velero server` run outside the cluster on A's kubeconfig
  with the AWS plugin on a bucket of the same MinIO (and a zero-replica `velero`
  Deployment standing in for the in-cluster install), `velero backup create` of the bench
  namespaces, the namespaces deleted, `velero restore create`; each timed until final.
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
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import engine_child, raw_api, velero_lab
from taichu.backups.s3 import S3Client, S3Config
from taichu.kube import KubeClient, parse_kubeconfig
from taichu.lab.cluster import LabCluster
from taichu.lab.procs import LabError
from tests.backups.minio import ACCESS_KEY, SECRET_KEY, start_minio

KINDS = "configmaps,secrets,serviceaccounts,roles,rolebindings"
LIST_PATHS = [
    "/api/v1/configmaps",
    "/api/v1/secrets",
    "/api/v1/serviceaccounts",
    "/apis/rbac.authorization.k8s.io/v1/roles",
    "/apis/rbac.authorization.k8s.io/v1/rolebindings",
]
CONCURRENCY = 32
S3_ENV = engine_child.S3_ENV


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


async def populate(kubeconfig: str, namespaces: list[str], per_namespace: int) -> raw_api.Rate:
    """Create everything with raw POSTs, CONCURRENCY at a time: the raw create rate."""
    kube = KubeClient(parse_kubeconfig(kubeconfig), request_timeout=60)
    try:
        for ns in namespaces:
            await kube.create(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
    finally:
        await kube.close()
    work = [item for ns in namespaces for item in _objects(ns, per_namespace)]
    return await raw_api.create_all(kubeconfig, work, CONCURRENCY)


async def make_buckets(endpoint: str, *names: str) -> None:
    client = S3Client(S3Config(endpoint, "us-east-1", ACCESS_KEY, SECRET_KEY))
    try:
        for name in names:
            await client.create_bucket(name)
    finally:
        await client.close()


def run_child(s3: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("engine_child.py")), *args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        env={**os.environ, S3_ENV: s3},
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the run -----------------------------------------------------------------------------


def run_velero(
    args: argparse.Namespace, source: LabCluster, work: Path, s3: str, names: list[str]
) -> dict[str, Any]:
    """Velero's backup and restore of the bench namespaces of `source`; on any failure,
    what failed (the step, the command's or the server's own words)."""
    step = "building Velero (scripts/velero-build.sh)"
    velero: velero_lab.Velero | None = None
    try:
        binaries = velero_lab.build()
        endpoint = s3.split(" ")[0]
        step = "installing Velero's CRDs, namespace and BackupStorageLocation"
        velero = velero_lab.Velero(binaries, source, work / "velero", endpoint, "velero")
        velero.work.mkdir()
        velero.install(ACCESS_KEY, SECRET_KEY)
        step = "starting velero server"
        velero.start(args.velero_arg)
        step = "velero backup create"
        backup = velero.backup("bench", names)
        if backup.phase != "Completed":
            raise velero_lab.VeleroFailed(f"backup ended {backup.phase}: {backup}")
        step = "deleting the bench namespaces"
        deleted = velero.delete_namespaces(names)
        step = "velero restore create"
        restore = velero.restore("bench", "bench")
        restored = asyncio.run(raw_api.paged_list(source.kubeconfig, LIST_PATHS))
        return {
            "backup": backup,
            "restore": restore,
            "delete_seconds": deleted,
            "restored_listed": restored.objects,
            "peak_rss_mb": velero.peak_rss_mb(),
        }
    except (velero_lab.VeleroFailed, LabError, RuntimeError, OSError) as e:
        tail = velero.log_tail() if velero is not None else ""
        return {"failed": f"{step}: {e}" + (f"\n--- velero server log ---\n{tail}" if tail else "")}
    finally:
        if velero is not None:
            velero.stop()


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f} %" if b > 0 else "n/a"


def times(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "n/a"


def report(r: dict[str, Any]) -> None:
    create, listed, full, small = r["create"], r["list"], r["full"], r["small"]
    restore, restore_small, vel = r["restore"], r["restore_small"], r["velero"]
    backup_rate = full["objects"] / full["seconds"]
    restore_rate = restore["objects"] / restore["seconds"]
    print(
        f"\nraw create rate (POST over HTTP, {CONCURRENCY} in flight, {create.objects:,} objects): "
        f"{create.per_second:8.0f} objects/s"
    )
    print(
        f"raw list rate   (paged LIST over HTTP of {KINDS}, {raw_api.PAGE_SIZE}/page, "
        f"{raw_api.LIST_CONCURRENCY} at once, {listed.objects:,} objects, "
        f"{listed.bytes / 1e6:.1f} MB): {listed.per_second:8.0f} objects/s"
    )
    print(
        f"backup          {full['objects']:,} objects in {full['seconds']:.2f}s: "
        f"{backup_rate:8.0f} objects/s = {pct(backup_rate, listed.per_second)} of the raw "
        f"list rate (target >= 80 %); archive {full['bytes'] / 1e6:.1f} MB in MinIO"
    )
    print(f"download+verify {restore['verify_seconds']:.2f}s for the whole archive")
    print(
        f"restore         {restore['objects']:,} objects in {restore['seconds']:.2f}s: "
        f"{restore_rate:8.0f} objects/s (target >= 1,000) = "
        f"{pct(restore_rate, create.per_second)} of the raw create rate; "
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
    if vel is None:
        print("velero          not run (--no-velero)")
        return
    if "failed" in vel:
        print(f"velero          FAILED at {vel['failed']}")
        return
    vb, vr = vel["backup"], vel["restore"]
    print(
        f"velero backup   {vb.items:,}/{vb.total:,} items in {vb.seconds:.2f}s ({vb.phase}, "
        f"{vb.warnings} warnings, {vb.errors} errors): {vb.per_second:8.0f} objects/s = "
        f"{pct(vb.per_second, listed.per_second)} of the raw list rate; server CPU "
        f"{vb.server_cpu:.1f}s; ours is {times(backup_rate, vb.per_second)} {vb.detail}"
    )
    print(
        f"velero restore  {vr.items:,}/{vr.total:,} items in {vr.seconds:.2f}s ({vr.phase}, "
        f"{vr.warnings} warnings, {vr.errors} errors): {vr.per_second:8.0f} objects/s = "
        f"{pct(vr.per_second, create.per_second)} of the raw create rate; server CPU "
        f"{vr.server_cpu:.1f}s; ours is {times(restore_rate, vr.per_second)} {vr.detail}; "
        f"{vel['restored_listed']:,} objects of the bench kinds listed afterwards "
        f"({listed.objects:,} before)"
    )
    print(
        f"velero server   peak RSS {vel['peak_rss_mb']:.0f} MB; deleting the namespaces "
        f"between took {vel['delete_seconds']:.1f}s"
    )


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
    parser.add_argument("--no-velero", action="store_true", help="skip Velero")
    parser.add_argument(
        "--velero-arg",
        action="append",
        default=[],
        help="extra flag for `velero server` (repeatable), e.g. --velero-arg=--client-qps=500",
    )
    args = parser.parse_args()

    names = [f"bench-{i:02d}" for i in range(args.namespaces)]
    per_namespace = args.objects // args.namespaces
    fifth = names[: max(1, len(names) // 5)]
    r: dict[str, Any] = {}
    minio = start_minio()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="taichu-bench-") as tmp,
            LabCluster("bench-src") as source,
            LabCluster("bench-dst") as target,
            LabCluster("bench-dst2") as small_target,
        ):
            work = Path(tmp)
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            asyncio.run(make_buckets(minio.endpoint, bucket, "velero"))
            s3 = f"{minio.endpoint} {bucket}"
            for lab in (source, target, small_target):
                lab.create_nodes(1)
            print(f"creating {per_namespace * len(names):,} objects in {len(names)} namespaces")
            r["create"] = asyncio.run(populate(source.kubeconfig, names, per_namespace))
            r["list"] = asyncio.run(raw_api.best_list(source.kubeconfig, LIST_PATHS))
            src = str(source.kubeconfig_path)
            r["full"] = run_child(s3, "backup", src, "full.tbk")
            r["small"] = run_child(s3, "backup", src, "small.tbk", *fifth)
            parallel = str(args.restore_concurrency)
            r["restore_small"] = run_child(
                s3,
                "restore",
                str(small_target.kubeconfig_path),
                "small.tbk",
                str(work / "small.spool"),
                parallel,
            )
            r["restore"] = run_child(
                s3,
                "restore",
                str(target.kubeconfig_path),
                "full.tbk",
                str(work / "full.spool"),
                parallel,
            )
            r["velero"] = None if args.no_velero else run_velero(args, source, work, s3, names)
    finally:
        minio.stop()
        shutil.rmtree(minio.data_dir, ignore_errors=True)
    report(r)


if __name__ == "__main__":
    main()
