"""A real MinIO server for the S3 backend's tests, built from its Go module by
`scripts/minio-build.sh` (cached outside the work tree) and run on a free loopback port."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from taichu.lab.procs import LabProcess, free_ports, wait_until
from taichu.lab.state import run_dir

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "taichu-test"
SECRET_KEY = "taichu-test-secret-key"


@dataclass
class Minio:
    proc: LabProcess
    endpoint: str
    data_dir: Path

    def stop(self) -> None:
        self.proc.stop()


def minio_binary() -> Path:
    """Builds MinIO the first time (several minutes on 2 cores), then answers at once."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "minio-build.sh")],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building MinIO failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def start_minio() -> Minio:
    binary = minio_binary()
    base = run_dir() / "minio"
    base.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=base))
    api, console = free_ports(2)
    proc = LabProcess(
        "minio",
        [
            str(binary),
            "server",
            str(data_dir),
            "--address",
            f"127.0.0.1:{api}",
            "--console-address",
            f"127.0.0.1:{console}",
            "--quiet",
        ],
        data_dir.with_suffix(".log"),
        env={
            "MINIO_ROOT_USER": ACCESS_KEY,
            "MINIO_ROOT_PASSWORD": SECRET_KEY,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "HOME": str(data_dir),
        },
    )
    proc.start()
    endpoint = f"http://127.0.0.1:{api}"
    # "live" answers before the server is initialized (then S3 calls get 503
    # XMinioServerNotInitialized); "cluster" only once it has write quorum.
    wait_until(
        "MinIO /minio/health/cluster",
        lambda: httpx.get(f"{endpoint}/minio/health/cluster", timeout=2).status_code == 200,
        120,
        watch=[proc],
        interval=0.2,
    )
    return Minio(proc, endpoint, data_dir)
