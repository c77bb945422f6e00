"""A real `taichu serve` for the provision tests: the test pipeline
(tests/provision/pipeline.py), a bundle in its artifact directory, machines registered
from lab SSH hosts, and helpers over the HTTP API."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from taichu.lab.ssh_hosts import SshHost
from tests.clusters.serving import ADMIN_PASSWORD
from tests.machines.serving import Inventory
from tests.support.server import (
    ServerProcess,
    drop_prepared_database,
    free_port,
    login_token,
    prepare_database,
    server_env,
)

BUNDLE = "k8s-test-bundle"
VERSION = "v1.36.3"


def write_bundle(
    directory: Path,
    name: str = BUNDLE,
    *,
    plugins: tuple[str, ...] = ("flannel",),
    corrupt: bool = False,
) -> Path:
    """A bundle as CREATE-CONTRACT.md describes it (small stand-in files, real checksums)."""
    root = directory / name
    (root / "bin").mkdir(parents=True, exist_ok=True)
    files = []
    for rel, data in (("bin/kubelet", b"#!/bin/sh\necho kubelet\n"), ("bin/etcd", b"etcd\n")):
        (root / rel).write_bytes(data)
        digest = hashlib.sha256(b"other" if corrupt else data).hexdigest()
        files.append({"path": rel, "sha256": digest, "size": len(data), "mode": "0755"})
    manifest = {
        "format": 1,
        "name": name,
        "kubernetes_version": VERSION,
        "arch": "amd64",
        "created_at": "2026-12-01T20:00:00Z",
        "components": {"kubernetes": VERSION, "containerd": "v2.4.2", "flannel": "v0.28.10"},
        "container_runtimes": ["containerd"],
        "network_plugins": list(plugins),
        "files": files,
        "images": [],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@dataclass
class Provision(Inventory):
    server: ServerProcess | None = None

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/create-tasks/{task_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def wait_task(
        self, task_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 120
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                task = self.task(task_id)
            except httpx.HTTPError:
                task = {}
            if task and predicate(task):
                return task
            assert time.monotonic() < deadline, f"task not as expected: {task}"
            time.sleep(0.3)

    def register_machine(
        self, host: SshHost, name: str, role: str, address: str | None = None
    ) -> str:
        """Adds a lab host as a machine (at `address`, default the host's own) and answers
        its id; its first check runs in the background."""
        body = {
            "name": name,
            "ip_address": address or host.address,
            "port": host.port,
            "user": "root",
            "password": host.password,
            "role": role,
        }
        response = self.post("/api/v1/machines", body)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["id"])

    def wait_available(self, ids: list[str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        for machine_id in ids:
            while (status := self.machine(machine_id)["status"]) != "available":
                assert status != "error" and time.monotonic() < deadline, self.machine(machine_id)
                time.sleep(0.3)

    def add_machine(self, host: SshHost, name: str, role: str) -> str:
        machine_id = self.register_machine(host, name, role)
        self.wait_available([machine_id])
        return machine_id

    def statuses(self, ids: list[str]) -> list[str]:
        return [self.machine(i)["status"] for i in ids]

    def create(self, name: str, ids: list[str], **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"cluster_name": name, "machine_ids": ids, "artifact_path": BUNDLE}
        body.update(extra)
        return self.post("/api/v1/clusters/create", body)

    def restart(self, sig: int = signal.SIGKILL) -> None:
        assert self.server is not None
        self.server.kill(sig)
        self.server.start()


@contextmanager
def serve_platform(
    tmp_path: Path, label: str, artifacts: Path, data_dir: Path | None = None, **env: str
) -> Iterator[Provision]:
    """A migrated database and a `taichu serve` on it, signed in as admin; bundles in
    `artifacts`; `env` adds or overrides settings."""
    url = prepare_database(tmp_path, label)
    data_dir = data_dir or tmp_path / f"data-{label}"
    log_path = tmp_path / f"server-{label}.log"
    settings = {
        "TAICHU_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TAICHU_SECRET_KEY": f"provision-secret-{label}-0123456789abcdef",
        "TAICHU_MACHINES__CHECK_INTERVAL": "86400",
        "TAICHU_ARTIFACTS__DIR": str(artifacts),
        "TAICHU_HEALTH_INTERVAL": "3600",
    }
    server = ServerProcess(server_env(url, data_dir, **{**settings, **env}), free_port(), log_path)
    try:
        server.start()
        token = login_token(server.url, "admin", ADMIN_PASSWORD)
        yield Provision(
            server.url, {"Authorization": f"Bearer {token}"}, url, data_dir, log_path, server
        )
    finally:
        server.kill(signal.SIGTERM)
        drop_prepared_database(url)


@contextmanager
def serve_provision(tmp_path: Path, label: str, **env: str) -> Iterator[Provision]:
    """The platform with the test pipeline (tests/provision/pipeline.py) and a stand-in
    bundle."""
    data_dir = tmp_path / f"data-{label}"
    write_bundle(data_dir / "artifacts")
    with serve_platform(
        tmp_path,
        label,
        data_dir / "artifacts",
        data_dir,
        **{"TAICHU_PROVISION__PIPELINE": "tests.provision.pipeline", **env},
    ) as provision:
        yield provision


def reset_hosts(hosts: list[SshHost]) -> None:
    """Fresh counters; every host has what `needs` wants; nothing holds."""
    for host in hosts:
        host.exec("rm -rf /root/t /root/hold /root/torn && touch /root/needed")


def count(host: SshHost, step: str) -> int:
    done = host.exec(f"cat /root/t/{step} 2>/dev/null || true")
    return done.stdout.count("run")
