"""What the engine hands a step body: `EngineContext` (the `StepContext` of
taichu.provision.plan) over the real SSH adapter, and the task's buffered log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.kube import KubeClient, parse_kubeconfig
from taichu.provision.models import CreateTask, CreateTaskLog
from taichu.provision.plan import ClusterPlan, NodePlan, Step, StepFailed, TaskCancelled
from taichu.ssh import CommandResult
from taichu.timeutil import utcnow

log = logging.getLogger("taichu.provision")
OUTPUT_LOG_LINES = 5  # lines of a command's output copied into the task's log
MAX_LINE = 500


def tail(text: str, chars: int) -> str:
    text = text.strip()
    return text if len(text) <= chars else "..." + text[-chars:]


@dataclass
class TaskLog:
    """Lines gathered in memory and written in batches (each line a transaction would
    make a chatty step slow); the oldest beyond the per-task bound are dropped."""

    app: AppContext
    task_id: str
    keep: int
    pending: list[tuple[Any, str, str, str]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    trimmed: int = 0  # lines dropped from the front of `pending` while the database lagged

    def add(self, host: str, step: str, line: str) -> None:
        for part in line.splitlines() or [""]:
            self.pending.append((utcnow(), host[:100], step[:64], part[:MAX_LINE]))
        # No more than the task keeps: the oldest would be deleted once written anyway.
        excess = len(self.pending) - self.keep
        if excess > 0:
            del self.pending[:excess]
            self.trimmed += excess

    async def flush(self) -> None:
        """Write what is pending; lines leave `pending` only once committed, so a failed or
        cancelled flush (the flusher is cancelled when the run ends) loses none of them."""
        if not self.pending:
            return
        async with self.closing_transaction():
            pass

    @asynccontextmanager
    async def closing_transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction that also writes every pending line, committed together: a run
        that records its end in it is never seen ended with its log still unwritten."""
        async with self.lock:
            async with transaction(self.app.sessions) as session:
                yield session
                written = await self._write(session)
            # add() appends (and trims the front): the written lines still here lead the list.
            lines, trimmed = written
            del self.pending[: max(0, lines - (self.trimmed - trimmed))]

    async def _write(self, session: AsyncSession) -> tuple[int, int]:
        """Adds the pending lines to `session`: (how many, `trimmed` when taken)."""
        lines, trimmed = list(self.pending), self.trimmed
        if not lines:
            return 0, trimmed
        task = await session.get(CreateTask, self.task_id)
        if task is None:  # deleted: nothing to write them to
            return len(lines), trimmed
        seq = task.log_seq
        for at, host, step, line in lines:
            session.add(
                CreateTaskLog(task_id=self.task_id, seq=seq, at=at, host=host, step=step, line=line)
            )
            seq += 1
        task.log_seq = seq
        await session.flush()
        await session.execute(
            delete(CreateTaskLog).where(
                CreateTaskLog.task_id == self.task_id, CreateTaskLog.seq < seq - self.keep
            )
        )
        return len(lines), trimmed

    async def flusher(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:  # the next flush (or the final one) tries again
                log.warning("writing the log of create task %s failed", self.task_id, exc_info=True)


@dataclass
class Run:
    """One run of a task's pipeline (shared by its steps' contexts)."""

    app: AppContext
    plan: ClusterPlan
    pki: Any
    log: TaskLog
    machine_names: dict[str, str]  # machine id -> inventory name (for messages)
    clients: list[KubeClient] = field(default_factory=list)
    # The tracked run this pipeline reports to and whose cancel it honours: the create
    # task itself, or an expansion (whose steps and log are still the task's journal).
    record: tuple[type[Any], str] | None = None

    @property
    def run_record(self) -> tuple[type[Any], str]:
        return self.record or (CreateTask, self.plan.task_id)

    @property
    def run_label(self) -> str:
        model, record_id = self.run_record
        return f"{getattr(model, 'run_label', 'create task')} {record_id}"

    async def cancel_wanted(self) -> bool:
        model, record_id = self.run_record
        async with self.app.read_sessions() as session:
            return bool(
                await session.scalar(select(model.cancel_requested).where(model.id == record_id))
            )

    def where(self, node: NodePlan | None) -> str:
        if node is None:
            return self.plan.cluster_name
        return f"{self.machine_names.get(node.machine_id, node.name)} ({node.address})"

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        self.clients.clear()


@dataclass
class EngineContext:
    """The `StepContext` of one step."""

    run_state: Run
    step: Step

    @property
    def plan(self) -> ClusterPlan:
        return self.run_state.plan

    @property
    def pki(self) -> Any:
        return self.run_state.pki

    @property
    def app(self) -> AppContext:
        return self.run_state.app

    async def log(self, node: NodePlan | None, line: str) -> None:
        host = node.name if node is not None else "cluster"
        self.run_state.log.add(host, self.step.name, line)

    def _failed(self, node: NodePlan, message: str, output: str = "") -> StepFailed:
        chars = self.app.settings.provision.output_tail_chars
        return StepFailed(node, self.step.title, message, tail(output, chars))

    async def run(
        self,
        node: NodePlan,
        command: str,
        *,
        timeout: float = 120,  # noqa: ASYNC109 (the contract's name; enforced by the adapter)
        check: bool = True,
        stdin: bytes | None = None,
    ) -> CommandResult:
        first = (command.strip().splitlines() or [""])[0][:200]
        await self.log(node, f"$ {first}")
        try:
            async with self.app.ssh.session(node.target) as ssh:
                result = await ssh.run(
                    command, privileged=True, timeout=timeout, check=False, stdin=stdin
                )
        except TaichuError as e:
            await self.log(node, f"! {e.message}")
            raise self._failed(node, e.message) from e
        output = "\n".join(part for part in (result.stdout, result.stderr) if part.strip())
        for line in output.strip().splitlines()[-OUTPUT_LOG_LINES:]:
            await self.log(node, f"  {line}")
        if check and result.exit_status != 0:
            raise self._failed(
                node, f"`{first}` failed with exit status {result.exit_status}", output
            )
        return result

    async def upload(
        self, node: NodePlan, data: bytes | Path, remote_path: str, mode: int = 0o644
    ) -> bool:
        try:  # a local file (a Path) is streamed by the adapter, never read whole
            async with self.app.ssh.session(node.target) as ssh:
                changed = await ssh.upload(data, remote_path, mode=mode, privileged=True)
        except TaichuError as e:
            await self.log(node, f"! upload of {remote_path}: {e.message}")
            raise self._failed(node, f"upload of {remote_path}: {e.message}") from e
        await self.log(node, f"{'copied' if changed else 'unchanged'} {remote_path}")
        return changed

    def admin_client(self) -> KubeClient:
        access = parse_kubeconfig(self.pki.admin_kubeconfig(self.plan.api_server))
        kube = self.app.settings.kube
        client = KubeClient(
            access,
            connect_timeout=kube.connect_timeout_seconds,
            request_timeout=kube.request_timeout_seconds,
        )
        self.run_state.clients.append(client)
        return client

    async def check_cancelled(self) -> None:
        if await self.run_state.cancel_wanted():
            raise TaskCancelled(f"{self.run_state.run_label} was cancelled")
