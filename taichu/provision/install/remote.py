"""What a step body does on one machine: commands, files, services, waits, failures."""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from taichu.provision.install import layout as L
from taichu.provision.install.services import Services
from taichu.provision.plan import StepFailed

if TYPE_CHECKING:
    from taichu.provision.plan import ClusterPlan, NodePlan, StepContext
    from taichu.ssh.session import CommandResult

T = TypeVar("T")
_TAIL = 1500


def kube_nodes(plan: ClusterPlan) -> list[NodePlan]:
    """Machines that become Kubernetes nodes (etcd-only machines do not)."""
    return [*plan.masters(), *plan.workers()]


def all_machines(plan: ClusterPlan) -> Sequence[NodePlan]:
    return plan.nodes


def api_server(plan: ClusterPlan, node: NodePlan | None = None) -> str:
    """The API server a machine's components use: a master its own (127.0.0.1 is in the
    certificate), every other machine the first master's address."""
    if node is not None and node.role == "master":
        return f"https://127.0.0.1:{plan.api_port}"
    return cluster_endpoint(plan)


def cluster_endpoint(plan: ClusterPlan) -> str:
    """The address the platform registers the cluster under."""
    first = plan.masters()[0].address
    host = f"[{first}]" if ":" in first else first
    return f"https://{host}:{plan.api_port}"


def tail(text: str, limit: int = _TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class Machine:
    """One machine during one step."""

    def __init__(self, ctx: StepContext, node: NodePlan, step: str) -> None:
        self.ctx = ctx
        self.node = node
        self.step = step
        self._services: Services | None = None

    @property
    def plan(self) -> ClusterPlan:
        return self.ctx.plan

    def fail(self, message: str) -> StepFailed:
        return StepFailed(self.node, self.step, message)

    async def sh(
        self, command: str, *, timeout: float = 120, check: bool = True, stdin: bytes | None = None
    ) -> CommandResult:
        return await self.ctx.run(self.node, command, timeout=timeout, check=check, stdin=stdin)

    async def put(self, data: str | bytes | Path, path: str, mode: int = 0o644) -> bool:
        """Write a file (skipped when identical); True when it changed."""
        payload = data.encode() if isinstance(data, str) else data
        return await self.ctx.upload(self.node, payload, path, mode)

    async def put_all(self, files: Sequence[tuple[str | bytes | Path, str, int]]) -> bool:
        changed = False
        for data, path, mode in files:
            changed = await self.put(data, path, mode) or changed
        return changed

    async def log(self, line: str) -> None:
        await self.ctx.log(self.node, line)

    async def services(self) -> Services:
        if self._services is None:

            async def run(command: str, *, timeout: float = 120, check: bool = True) -> Any:
                return await self.sh(command, timeout=timeout, check=check)

            async def upload(data: bytes, path: str, mode: int) -> bool:
                return await self.ctx.upload(self.node, data, path, mode)

            key = f"{self.plan.task_id}:{self.node.machine_id}"
            self._services = await Services.detect(run, upload, key)
        return self._services

    async def mkdirs(self) -> None:
        private = " ".join(L.PRIVATE)
        await self.sh(f"mkdir -p {' '.join(L.DIRECTORIES)} {private} && chmod 700 {private}")

    async def wait_command(self, what: str, command: str, timeout: float) -> CommandResult:
        """Poll `command` on the machine itself (one SSH command) until it succeeds."""
        seconds = max(1, int(timeout))
        loop = (
            f"i=0; while [ $i -lt {seconds} ]; do "
            f"if ( {command} ) >/dev/null 2>&1; then exit 0; fi; sleep 1; i=$((i+1)); done; "
            f"( {command} )"
        )
        result = await self.sh(loop, timeout=seconds + 30, check=False)
        if result.exit_status != 0:
            raise self.fail(
                f"{what} not within {seconds}s: {tail(result.stdout + result.stderr, 600)}"
            )
        return result

    async def service_failed(self, name: str, what: str) -> StepFailed:
        """A failure naming what did not happen, with the service's log tail."""
        services = await self.services()
        state = await services.status(name)
        logs = await services.logs(name, 25)
        return self.fail(f"{what} ({name} is {state}); its log ends:\n{tail(logs)}")


async def wait_api(
    what: str,
    fetch: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    timeout: float,
    interval: float = 2.0,
) -> T | None:
    """Poll the new cluster until `ok(value)`; the last value, or None when the time is up
    (API errors while it comes up count as not yet)."""
    deadline = time.monotonic() + timeout
    value: T | None = None
    while True:
        try:
            value = await fetch()
            if ok(value):
                return value
        except Exception:  # noqa: BLE001 (unreachable or not ready yet: try again)
            value = None
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval)


def q(value: str) -> str:
    return shlex.quote(value)
