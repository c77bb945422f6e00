"""`taichu jobs ...`: run a worker without HTTP, enqueue diagnostic jobs, show counts."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from taichu import installation
from taichu.config import Settings, get_settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.installation import Mode
from taichu.jobs import diagnostics, service
from taichu.jobs.registry import default_registry
from taichu.jobs.runner import JobRunner
from taichu.jobs.sqlite_lock import sqlite_worker_lock

jobs_app = typer.Typer(help="The durable job queue.", no_args_is_help=True)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _settings(mode: Mode = "command") -> Settings:
    """Settings once the database is there and this installation's (else exit 1, saying
    what to do)."""
    try:
        settings = get_settings()
        asyncio.run(installation.prepare(settings, mode))
    except ValidationError as e:
        typer.echo(installation.settings_error(e), err=True)
        raise typer.Exit(2) from None
    except installation.StartRefused as e:
        typer.echo(e.message, err=True)
        raise typer.Exit(1) from None
    return settings


async def _run_worker(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            # A second signal: stop waiting for the grace period. Unfinished jobs come
            # back when their leases expire.
            logging.getLogger("taichu.jobs").warning("second signal; exiting now")
            if main is not None:
                main.cancel()
            return
        logging.getLogger("taichu.jobs").info("signal %d: stopping", signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    lock = await sqlite_worker_lock(settings, stop) if settings.is_sqlite else None
    if settings.is_sqlite and lock is None:
        return  # stopped while another process held the jobs of this database
    ctx = AppContext.create(settings)
    runner = JobRunner(ctx, default_registry(ctx.settings))
    ctx.jobs = runner
    try:
        await runner.start()
        await stop.wait()
        await runner.stop()
    finally:
        await ctx.close()
        if lock is not None:
            os.close(lock)


@jobs_app.command()
def worker() -> None:
    """Run only the job runner (no HTTP) until SIGTERM/SIGINT.

    Several workers (and `serve` replicas) may share a PostgreSQL database."""
    _configure_logging(os.environ.get("TAICHU_LOG_LEVEL", "info"))
    os.umask(0o077)  # what a worker writes (archives, spool files) is its own alone
    settings = _settings("worker")
    try:
        asyncio.run(_run_worker(settings))
    except asyncio.CancelledError:
        raise typer.Exit(1) from None


async def _enqueue(settings: Settings, payload: dict[str, object], count: int) -> list[str]:
    ctx = AppContext.create(settings)
    try:
        async with transaction(ctx.sessions) as session:
            jobs = [
                await service.enqueue(session, diagnostics.SLEEP_KIND, dict(payload))
                for _ in range(count)
            ]
        return [job.id for job in jobs]
    finally:
        await ctx.close()


@jobs_app.command("enqueue-diagnostic")
def enqueue_diagnostic(
    steps: Annotated[int, typer.Option(min=0, max=diagnostics.MAX_STEPS)] = 3,
    step_seconds: Annotated[float, typer.Option(min=0, max=diagnostics.MAX_STEP_SECONDS)] = 1.0,
    marker_dir: Annotated[
        Path | None, typer.Option(help="Directory for per-job start/done marker files.")
    ] = None,
    count: Annotated[int, typer.Option(min=1, max=100_000)] = 1,
) -> None:
    """Enqueue `diagnostic.sleep` jobs and print their ids, one per line."""
    payload: dict[str, object] = {"steps": steps, "step_seconds": step_seconds}
    if marker_dir is not None:
        # Absolute: the worker that runs the job may have another working directory.
        marker_dir.mkdir(parents=True, exist_ok=True)
        payload["marker_dir"] = str(marker_dir.resolve())
    for job_id in asyncio.run(_enqueue(_settings(), payload, count)):
        typer.echo(job_id)


async def _counts(settings: Settings) -> dict[str, int]:
    ctx = AppContext.create(settings)
    try:
        async with transaction(ctx.sessions) as session:
            return await service.counts_by_status(session)
    finally:
        await ctx.close()


@jobs_app.command("list")
def list_counts() -> None:
    """Show how many jobs are in each state."""
    for status, count in asyncio.run(_counts(_settings())).items():
        typer.echo(f"{status:<10} {count}")
