"""The interface between the provision engine (`taichu.provision.engine`) and the step
bodies of the installer (`taichu.provision.install`): what a cluster to create is
(`ClusterPlan`, `NodePlan`), what a step is (`Step`), what a step body may use
(`StepContext`), how it fails (`StepFailed`), and what a pipeline module hands the
engine (`Pipeline`).

A pipeline module (setting `provision.pipeline`, default
`taichu.provision.install.pipeline`) exposes `PIPELINE = Pipeline(...)`:

    PIPELINE = Pipeline(
        steps=(Step("preflight", "Checking machines", 2, each=all_nodes, run=preflight), ...),
        teardown=teardown,                  # async (ctx, node) -> None, every machine
        new_pki=ClusterPki.create,          # (plan) -> pki, once per task (in a thread)
        load_pki=ClusterPki.from_json,      # (text) -> pki, on a retry or a resumed run
        join_steps=(Step("kubelet", ...), ...),  # an expansion's, on the joining machines
    )

Rules for step bodies: check before acting (a rerun must be safe: a step that was
running when the platform died runs again); raise `StepFailed` (or let `ctx.run` raise
it) with a message an operator can act on; never block the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from taichu.ssh.target import SshTarget

if TYPE_CHECKING:
    from taichu.kube import KubeClient
    from taichu.ssh import CommandResult

MASTER, WORKER, ETCD = "master", "worker", "etcd"
NODE_ROLES = (MASTER, WORKER, ETCD)


@dataclass(frozen=True)
class NodePlan:
    machine_id: str
    name: str  # node name: the machine name, DNS-1123 lowered
    address: str  # the machine's address: node IP, etcd peer, API server
    role: str  # master | worker | etcd
    etcd_member: bool  # etcd-role machines, else the masters (stacked)
    target: SshTarget = field(repr=False)  # credentials (decrypted only in the job)

    @property
    def label(self) -> str:
        """How messages name the machine: `name (address)`."""
        return f"{self.name} ({self.address})"


@dataclass(frozen=True)
class ClusterPlan:
    task_id: str
    cluster_id: str
    cluster_name: str
    kubernetes_version: str
    network_plugin: str
    container_runtime: str  # "containerd"
    pods_cidr: str
    service_cidr: str
    cluster_dns: str  # the 10th address of service_cidr
    cluster_domain: str  # "cluster.local"
    api_port: int  # 6443
    image_repo: str | None
    with_packages: bool
    bundle: Any  # taichu.artifacts.service.Bundle (verified before any machine is touched)
    nodes: tuple[NodePlan, ...]
    # An expansion's plan: the machines joining (ids); the others are the cluster's own.
    joining: frozenset[str] = frozenset()

    def masters(self) -> tuple[NodePlan, ...]:
        return tuple(n for n in self.nodes if n.role == MASTER)

    def etcd_members(self) -> tuple[NodePlan, ...]:
        return tuple(n for n in self.nodes if n.etcd_member)

    def workers(self) -> tuple[NodePlan, ...]:
        return tuple(n for n in self.nodes if n.role == WORKER)

    def joining_nodes(self) -> tuple[NodePlan, ...]:
        return tuple(n for n in self.nodes if n.machine_id in self.joining)

    def kube_nodes(self) -> tuple[NodePlan, ...]:
        """Machines that run a kubelet: masters and workers (etcd-only machines do not)."""
        return tuple(n for n in self.nodes if n.role in (MASTER, WORKER))

    @property
    def api_server(self) -> str:
        """The URL nodes and the platform use: the first master's address."""
        return f"https://{self.masters()[0].address}:{self.api_port}"


class ClusterPkiLike(Protocol):
    """What the engine needs of the installer's `ClusterPki` (taichu/provision/pki.py)."""

    def to_json(self) -> str: ...

    def admin_kubeconfig(self, server: str) -> str: ...


class StepFailed(Exception):
    """A step could not do its work on `node` (None: a cluster-wide step). The engine
    writes the task's error as `<machine name> (<address>): <step title>: <message>`
    followed by `output` (a bounded tail of what the command printed)."""

    def __init__(self, node: NodePlan | None, step: str, message: str, output: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.step = step
        self.message = message
        self.output = output


class TaskCancelled(Exception):
    """Raised by `StepContext.check_cancelled` once the task's cancel was requested; the
    engine stops there (a step body may raise it too, or simply let it propagate)."""


class StepContext(Protocol):
    """The engine's; what a step body may use. One per step run (`step` is that step)."""

    plan: ClusterPlan
    pki: Any  # the installer's ClusterPki (made once per task, kept encrypted on the task)
    step: Step

    async def run(
        self,
        node: NodePlan,
        command: str,
        *,
        timeout: float = 120,  # noqa: ASYNC109 (the contract's name; enforced by the adapter)
        check: bool = True,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run `command` privileged (sudo when the login needs it). Logs the command's
        first line and the output's tail under the machine; a non-zero exit (with
        `check`) or an SSH error raises StepFailed naming machine, step and output tail."""
        ...

    async def upload(
        self, node: NodePlan, data: bytes | Path, remote_path: str, mode: int = 0o644
    ) -> bool:
        """Write a file (privileged, checksum verified). False: an identical file was
        already there (nothing copied)."""
        ...

    async def log(self, node: NodePlan | None, line: str) -> None:
        """One line of the task's log, under the machine (None: the cluster)."""
        ...

    def admin_client(self) -> KubeClient:
        """A client of the new API server with the admin credentials (closed by the
        engine when the run ends)."""
        ...

    async def check_cancelled(self) -> None:
        """Raise TaskCancelled when the task's cancel was requested."""
        ...


StepBody = Callable[[StepContext, NodePlan | None], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    name: str  # journal key, stable across versions
    title: str  # what current_step says while it runs
    weight: int  # its share of progress
    each: Callable[[ClusterPlan], Sequence[NodePlan]] | None  # None: once per cluster
    run: StepBody


def all_nodes(plan: ClusterPlan) -> Sequence[NodePlan]:
    """`Step.each` for steps that touch every machine."""
    return plan.nodes


def joining_nodes(plan: ClusterPlan) -> Sequence[NodePlan]:
    """`Step.each` of an expansion's steps: the machines joining."""
    return plan.joining_nodes()


@dataclass(frozen=True)
class Pipeline:
    """What a pipeline module exposes as `PIPELINE`."""

    steps: Sequence[Step]
    teardown: Callable[[StepContext, NodePlan], Awaitable[None]]
    new_pki: Callable[[ClusterPlan], Any]
    load_pki: Callable[[str], Any]
    # Joining machines to a created cluster (an expansion): run over the cluster's whole
    # plan, each step's `each` filtered to the joining machines by the expansion job.
    join_steps: Sequence[Step] = ()
