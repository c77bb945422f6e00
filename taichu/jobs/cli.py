"""`taichu jobs ...`: run a worker without HTTP, enqueue diagnostic jobs, show counts."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from taichu.config import get_settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs import diagnostics, service
from taichu.jobs.registry import default_registry
from taichu.jobs.runner import JobRunner

jobs_app = typer.Typer(help="The durable job queue.", no_args_is_help=True)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _run_worker() -> None:
    settings = get_settings()
    if settings.is_sqlite:
        logging.getLogger("taichu.jobs").warning(
            "SQLite: this worker must be the only process running jobs (no `serve` with "
            "jobs enabled beside it); it requeues every running job as abandoned at start"
        )
    ctx = AppContext.create(settings)
    runner = JobRunner(ctx, default_registry(ctx.settings))
    ctx.jobs = runner
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
    try:
        await runner.start()
        await stop.wait()
        await runner.stop()
    finally:
        await ctx.close()


@jobs_app.command()
def worker() -> None:
    """Run only the job runner (no HTTP) until SIGTERM/SIGINT.

    Several workers (and `serve` replicas) may share a PostgreSQL database."""
    _configure_logging(get_settings().log_level)
    try:
        asyncio.run(_run_worker())
    except asyncio.CancelledError:
        raise typer.Exit(1) from None


async def _enqueue(payload: dict[str, object], count: int) -> list[str]:
    ctx = AppContext.create(get_settings())
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
    for job_id in asyncio.run(_enqueue(payload, count)):
        typer.echo(job_id)


async def _counts() -> dict[str, int]:
    ctx = AppContext.create(get_settings())
    try:
        async with transaction(ctx.sessions) as session:
            return await service.counts_by_status(session)
    finally:
        await ctx.close()


@jobs_app.command("list")
def list_counts() -> None:
    """Show how many jobs are in each state."""
    for status, count in asyncio.run(_counts()).items():
        typer.echo(f"{status:<10} {count}")
