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


def kube_nodes(plan: ClusterPlan) -> Sequence[NodePlan]:
    """Machines that become Kubernetes nodes (etcd-only machines do not)."""
    return plan.kube_nodes()


def uses_apilb(plan: ClusterPlan, node: NodePlan) -> bool:
    """Workers of a cluster with several masters reach them through taichu-apilb."""
    return node.role == "worker" and len(plan.masters()) > 1


def api_server(plan: ClusterPlan, node: NodePlan) -> str:
    """The API server a machine's components use: a master its own, a worker of several
    masters its local taichu-apilb (127.0.0.1 is in the certificate), a worker of one
    master that master."""
    if node.role == "master" or uses_apilb(plan, node):
        return f"https://127.0.0.1:{plan.api_port}"
    return plan.api_server


def tail(text: str, limit: int = _TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class Machine:
    """One machine during one step."""

    def __init__(self, ctx: StepContext, node: NodePlan) -> None:
        self.ctx = ctx
        self.node = node
        self._services: Services | None = None

    @property
    def plan(self) -> ClusterPlan:
        return self.ctx.plan

    def fail(self, message: str, output: str = "") -> StepFailed:
        return StepFailed(self.node, self.ctx.step.title, message, output)

    async def sh(
        self,
        command: str,
        *,
        timeout: float = 120,  # noqa: ASYNC109 (ctx.run's: enforced on the machine)
        check: bool = True,
        stdin: bytes | None = None,
    ) -> CommandResult:
        return await self.ctx.run(self.node, command, timeout=timeout, check=check, stdin=stdin)

    async def put(self, data: str | bytes | Path, path: str, mode: int = 0o644) -> bool:
        """Write a file (skipped when identical); True when it changed."""
        payload = bytes(data, "utf-8") if isinstance(data, str) else data
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

            async def run(command: str, *, timeout: float = 120, check: bool = True) -> Any:  # noqa: ASYNC109
                return await self.sh(command, timeout=timeout, check=check)

            async def upload(data: bytes, path: str, mode: int) -> bool:
                return await self.ctx.upload(self.node, data, path, mode)

            key = f"{self.plan.task_id}:{self.node.machine_id}"
            self._services = await Services.detect(run, upload, key)
        return self._services

    async def mkdirs(self) -> None:
        private = " ".join(L.PRIVATE)
        await self.sh(f"mkdir -p {' '.join(L.DIRECTORIES)} {private} && chmod 700 {private}")

    async def wait_command(self, what: str, command: str, seconds: float) -> CommandResult:
        """Poll `command` on the machine itself (one SSH command) until it succeeds."""
        limit = max(1, int(seconds))
        loop = (
            f"i=0; while [ $i -lt {limit} ]; do "
            f"if ( {command} ) >/dev/null 2>&1; then exit 0; fi; sleep 1; i=$((i+1)); done; "
            f"( {command} )"
        )
        result = await self.sh(loop, timeout=limit + 30, check=False)
        if result.exit_status != 0:
            raise self.fail(f"{what} not within {limit}s", result.stdout + result.stderr)
        return result

    async def service_failed(self, name: str, what: str) -> StepFailed:
        """A failure naming what did not happen, with the service's log tail."""
        services = await self.services()
        state = await services.status(name)
        logs = await services.logs(name, 25)
        return self.fail(f"{what} ({name} is {state}); the end of its log:", logs)


async def wait_api(
    what: str,
    fetch: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    seconds: float,
    interval: float = 2.0,
) -> T | None:
    """Poll the new cluster until `ok(value)`; the last value, or None when the time is up
    (API errors while it comes up count as not yet)."""
    deadline = time.monotonic() + seconds
    value: T | None = None
    while True:
        try:
            value = await fetch()
            if ok(value):
                return value
        except Exception:  # unreachable or not ready yet: try again
            value = None
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval)


def q(value: str) -> str:
    return shlex.quote(value)
