"""Velero beside the platform's engine: built from its Go module with its AWS object-store
plugin (scripts/velero-build.sh), its CRDs installed into a lab cluster, `velero server`
run as a process outside the cluster on the cluster's admin kubeconfig, storing into the
bench's MinIO. A backup and a restore are timed from `velero ... create` until their
phase is final, as an operator's `--wait` would see them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taichu.lab.cluster import LabCluster
from taichu.lab.kubeapi import ApiError
from taichu.lab.procs import LabProcess, free_ports, wait_until

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "velero"
GROUP = f"/apis/velero.io/v1/namespaces/{NAMESPACE}"
FINAL = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
POLL = 0.1  # seconds between reads of a backup's or restore's phase


class VeleroFailed(RuntimeError):
    """Velero could not be built, started or run: the message says what and how."""


@dataclass(frozen=True)
class VeleroBinaries:
    root: Path

    @property
    def velero(self) -> Path:
        return self.root / "bin" / "velero"

    @property
    def plugin_dir(self) -> Path:
        return self.root / "plugins"


def build() -> VeleroBinaries:
    """Build once (a long while on 2 cores), then answer at once from the cache."""
    script = ROOT / "scripts" / "velero-build.sh"
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=7200, check=False)
    if done.returncode != 0:
        raise VeleroFailed(f"{script} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return VeleroBinaries(Path(done.stdout.strip().splitlines()[-1]))


# --- pure helpers (tests/backups/test_bench_helpers.py) -----------------------------------


def credentials_file(access_key: str, secret_key: str) -> str:
    """An AWS shared credentials file, as the plugin reads it (AWS_SHARED_CREDENTIALS_FILE)."""
    return f"[default]\naws_access_key_id={access_key}\naws_secret_access_key={secret_key}\n"


def storage_location(bucket: str, s3_url: str, region: str = "us-east-1") -> dict[str, Any]:
    """The default BackupStorageLocation on an S3-compatible store (path-style URLs)."""
    return {
        "apiVersion": "velero.io/v1",
        "kind": "BackupStorageLocation",
        "metadata": {"name": "default", "namespace": NAMESPACE},
        "spec": {
            "provider": "aws",
            "default": True,
            "objectStorage": {"bucket": bucket},
            "config": {"region": region, "s3ForcePathStyle": "true", "s3Url": s3_url},
        },
    }


def server_deployment(image: str = "velero/velero:v1.18.3") -> dict[str, Any]:
    """The `velero` Deployment of a real install, scaled to nothing."""
    labels = {"component": "velero", "deploy": "velero"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "velero", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "velero", "image": image}]},
            },
        },
    }


def outcome(obj: dict[str, Any]) -> tuple[str | None, int, int]:
    """(final phase or None while running, items done, items in total) of a Backup or a
    Restore object."""
    status = obj.get("status") or {}
    phase = status.get("phase")
    progress = status.get("progress") or {}
    done = progress.get("itemsBackedUp", progress.get("itemsRestored", 0))
    return (phase if phase in FINAL else None), int(done or 0), int(progress.get("totalItems") or 0)


def _stat(pid: int | str) -> list[str]:
    # Fields after "(comm)": state, ppid, pgrp, ... utime (11), stime (12), cutime, cstime.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process in process group `pgid` (a server and the plugin
    processes it started), with what its exited children used."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except OSError:  # exited meanwhile
            continue
        if int(fields[2]) == pgid:
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the run -------------------------------------------------------------------------------


@dataclass
class Timed:
    name: str
    phase: str
    seconds: float
    items: int
    total: int
    warnings: int
    errors: int
    server_cpu: float  # CPU seconds of `velero server` and its plugins during the run
    detail: str = ""  # Velero's own words when it did not complete

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


class Velero:
    """`velero server` against `lab`, storing into `bucket` at `s3_url`."""

    def __init__(
        self, binaries: VeleroBinaries, lab: LabCluster, work: Path, s3_url: str, bucket: str
    ) -> None:
        self.bin, self.lab, self.work = binaries, lab, work
        self.s3_url, self.bucket = s3_url, bucket
        self.server: LabProcess | None = None
        self.log = work / "velero-server.log"
        self.env = {"HOME": str(work), "TMPDIR": str(work / "tmp")}

    def cli(self, *args: str, timeout: float = 300) -> str:
        argv = [str(self.bin.velero), f"--kubeconfig={self.lab.kubeconfig_path}", "-n", NAMESPACE]
        done = subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            check=False,
        )
        if done.returncode != 0:
            raise VeleroFailed(
                f"velero {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        return done.stdout

    def install(self, access_key: str, secret_key: str) -> None:
        """CRDs as `velero install` would create them, the namespace, the location."""
        crds = self.cli("install", "--crds-only", "--dry-run", "-o", "yaml")
        self.lab.kubectl("create", "-f", "-", input=crds, timeout=300)
        self.lab.kubectl("wait", "--for=condition=established", "crd", "--all", "--timeout=120s")
        self.lab.api.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            exist_ok=True,
        )
        # The restore's pod-volume action reads the server's image from the Deployment a
        # real install runs it as; here the server runs outside, so a Deployment with no
        # replicas stands in (found by running: `deployments.apps "velero" not found`).
        self.lab.api.create(
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", server_deployment()
        )
        (self.work / "tmp").mkdir(parents=True, exist_ok=True)
        creds = self.work / "credentials-velero"
        creds.write_text(credentials_file(access_key, secret_key))
        creds.chmod(0o600)
        self.env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
        self.lab.api.create(
            f"{GROUP}/backupstoragelocations", storage_location(self.bucket, self.s3_url)
        )

    def start(self, extra: Sequence[str] = ()) -> None:
        (metrics,) = free_ports(1)
        self.server = LabProcess(
            "velero-server",
            [
                str(self.bin.velero),
                "server",
                f"--kubeconfig={self.lab.kubeconfig_path}",
                f"--namespace={NAMESPACE}",
                f"--plugin-dir={self.bin.plugin_dir}",
                "--features=",
                f"--metrics-address=127.0.0.1:{metrics}",
                "--profiler-address=",
                "--log-level=info",
                *extra,
            ],
            self.log,
            env=self.env,
            cwd=self.work,
        )
        self.server.start()
        wait_until(
            "Velero's BackupStorageLocation to be Available",
            lambda: self._phase(f"{GROUP}/backupstoragelocations/default") == "Available",
            180,
            watch=[self.server],
            interval=0.5,
        )

    def _phase(self, path: str) -> str | None:
        return (self.lab.api.get(path).get("status") or {}).get("phase")

    def _server_cpu(self) -> float:
        assert self.server is not None and self.server.pid is not None
        return group_cpu_seconds(self.server.pid)

    def _timed(self, kind: str, name: str, args: Sequence[str], timeout: float) -> Timed:
        cpu = self._server_cpu()
        start = time.perf_counter()
        self.cli(*args)
        path = f"{GROUP}/{kind}/{name}"
        deadline = time.monotonic() + timeout
        while True:
            assert self.server is not None
            self.server.check()
            try:
                obj = self.lab.api.get(path)
            except ApiError:
                obj = {}
            phase, done, total = outcome(obj)
            if phase is not None:
                break
            if time.monotonic() > deadline:
                raise VeleroFailed(f"{kind}/{name} not final after {timeout:.0f}s: {obj}")
            time.sleep(POLL)
        seconds = time.perf_counter() - start
        status = obj.get("status") or {}
        if phase != "Completed":
            # Velero keeps the errors in object storage: `describe --details` fetches them.
            noun = kind.removesuffix("s")
            try:
                described = self.cli(noun, "describe", name, "--details")
            except VeleroFailed as e:
                described = str(e)
            errors = [ln for ln in self.log_tail(400).splitlines() if "level=error" in ln]
            status = {
                **status,
                "validationErrors": f"{described[-2500:]}\n" + "\n".join(errors[-5:]),
            }
        return Timed(
            name,
            phase,
            seconds,
            done,
            total,
            int(status.get("warnings") or 0),
            int(status.get("errors") or 0),
            self._server_cpu() - cpu,
            "; ".join(
                str(status[k]) for k in ("failureReason", "validationErrors") if status.get(k)
            ),
        )

    def backup(self, name: str, namespaces: Sequence[str], timeout: float = 3600) -> Timed:
        args = ["backup", "create", name, "--include-namespaces", ",".join(namespaces)]
        return self._timed("backups", name, [*args, "--snapshot-volumes=false"], timeout)

    def restore(self, name: str, backup: str, timeout: float = 3600) -> Timed:
        return self._timed(
            "restores", name, ["restore", "create", name, "--from-backup", backup], timeout
        )

    def delete_namespaces(self, names: Sequence[str], timeout: float = 1800) -> float:
        """Delete `names` and wait until they are gone; returns the seconds it took."""
        start = time.perf_counter()
        for name in names:
            self.lab.api.delete(f"/api/v1/namespaces/{name}")
        wanted = set(names)

        def gone() -> bool:
            items = self.lab.api.get("/api/v1/namespaces")["items"]
            return not wanted & {i["metadata"]["name"] for i in items}

        wait_until("the bench namespaces to be deleted", gone, timeout, interval=0.5)
        return time.perf_counter() - start

    def peak_rss_mb(self) -> float:
        assert self.server is not None and self.server.pid is not None
        return peak_rss_mb(self.server.pid)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
