"""The installer's steps run directly (no server, no database) on lab hosts over the real
SSH adapter: a `StepContext` of the test's own, for trying steps one by one."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taichu.artifacts.service import open_bundle_sync
from taichu.config import SshSettings
from taichu.errors import TaichuError
from taichu.kube import KubeClient, parse_kubeconfig
from taichu.lab.ssh_hosts import SshHost
from taichu.provision.pki import ClusterPki
from taichu.provision.plan import ClusterPlan, NodePlan, Step, StepFailed
from taichu.ssh import CommandResult, SshPool
from tests.ssh.support import target


def partial_bundle(directory: Path, lab_bin: Path, names: list[str]) -> Path:
    """A bundle of just `names` from the lab's binaries (for steps before the runtime)."""
    root = directory / "partial"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    files = []
    for name in names:
        dst = root / "bin" / name
        if not dst.exists():
            try:
                os.link(lab_bin / name, dst)  # no copy of a few hundred MB
            except OSError:
                shutil.copy2(lab_bin / name, dst)
        data = (lab_bin / name).read_bytes()
        files.append(
            {
                "path": f"bin/{name}",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "mode": "0755",
            }
        )
    manifest = {
        "format": 1,
        "name": "partial",
        "kubernetes_version": "v1.36.3",
        "arch": "amd64",
        "created_at": "2026-12-01T20:00:00Z",
        "components": {"kubernetes": "v1.36.3"},
        "container_runtimes": ["containerd"],
        "network_plugins": ["flannel"],
        "files": files,
        "images": [],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def plan_for(hosts: list[tuple[SshHost, str, str]], bundle: Any, **kw: Any) -> ClusterPlan:
    nodes = tuple(
        NodePlan(
            machine_id=f"m-{i}",
            name=name,
            address=host.lan_address,
            role=role,
            etcd_member=role == "master",
            target=target(host),
        )
        for i, (host, name, role) in enumerate(hosts)
    )
    values: dict[str, Any] = {
        "task_id": "t-direct",
        "cluster_id": "c-direct",
        "cluster_name": "direct",
        "kubernetes_version": "v1.36.3",
        "network_plugin": "flannel",
        "container_runtime": "containerd",
        "pods_cidr": "10.244.0.0/16",
        "service_cidr": "10.96.0.0/16",
        "cluster_dns": "10.96.0.10",
        "cluster_domain": "cluster.local",
        "api_port": 6443,
        "image_repo": None,
        "with_packages": False,
        "bundle": bundle,
        "nodes": nodes,
    }
    values.update(kw)
    return ClusterPlan(**values)


@dataclass
class DirectContext:
    plan: ClusterPlan
    pki: ClusterPki
    pool: SshPool
    step: Step
    lines: list[str] = field(default_factory=list)
    clients: list[KubeClient] = field(default_factory=list)

    async def run(
        self,
        node: NodePlan,
        command: str,
        *,
        timeout: float = 120,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> CommandResult:
        try:
            async with self.pool.session(node.target) as ssh:
                result = await ssh.run(
                    command, privileged=True, timeout=timeout, check=False, stdin=stdin
                )
        except TaichuError as e:
            raise StepFailed(node, self.step.title, e.message) from e
        if check and result.exit_status != 0:
            raise StepFailed(
                node, self.step.title, f"`{command[:200]}` failed", result.stdout + result.stderr
            )
        return result

    async def upload(
        self, node: NodePlan, data: bytes | Path, remote_path: str, mode: int = 0o644
    ) -> bool:
        async with self.pool.session(node.target) as ssh:
            return await ssh.upload(data, remote_path, mode=mode, privileged=True)

    async def log(self, node: NodePlan | None, line: str) -> None:
        self.lines.append(f"[{node.name if node else 'cluster'}] {self.step.name}: {line}")

    def admin_client(self) -> KubeClient:
        client = KubeClient(parse_kubeconfig(self.pki.admin_kubeconfig(self.plan.api_server)))
        self.clients.append(client)
        return client

    async def check_cancelled(self) -> None:
        return None


async def run_steps(plan: ClusterPlan, pki: ClusterPki, steps: list[Step]) -> list[str]:
    """Each step over its machines, in parallel, as the engine runs them."""
    pool = SshPool(SshSettings())
    lines: list[str] = []
    try:
        for step in steps:
            ctx = DirectContext(plan, pki, pool, step, lines)
            try:
                if step.each is None:
                    await step.run(ctx, None)
                else:
                    await asyncio.gather(*(step.run(ctx, n) for n in step.each(plan)))
            finally:
                for c in ctx.clients:
                    await c.close()
    finally:
        await pool.close()
    return lines


def open_bundle(root: Path) -> Any:
    return open_bundle_sync(root.parent, root.name)
