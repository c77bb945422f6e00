"""The `taichu` command: serve, migrate, admin tools, audit verification, lab helpers."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from taichu.config import Settings, get_settings

app = typer.Typer(help="Taichu (太初): multi-cluster Kubernetes management.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration of accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True, soft_wrap=True)  # lines stay whole for grep and copy


def _register_optional_apps() -> None:
    from taichu.jobs.cli import jobs_app

    app.add_typer(jobs_app, name="jobs")
    try:
        from taichu.lab.cli import lab_app
    except ImportError:  # the lab is a development aid; a trimmed install may lack it
        return
    app.add_typer(lab_app, name="lab")


_register_optional_apps()


def _settings(database_url: str | None = None, data_dir: Path | None = None) -> Settings:
    # Flags win over TAICHU_* variables; exported so subprocesses and reloads agree.
    if database_url:
        os.environ["TAICHU_DATABASE_URL"] = database_url
    if data_dir:
        os.environ["TAICHU_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    return get_settings()


DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides TAICHU_DATABASE_URL.")]
DirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Overrides TAICHU_DATA_DIR.")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (TAICHU_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TAICHU_PORT, default 8081).")] = None,
    database_url: DbOpt = None,
    data_dir: DirOpt = None,
    jobs_in_process: Annotated[
        bool, typer.Option(help="Run job workers in the server's own event loop.")
    ] = False,
) -> None:
    """Run the API server and its job workers (a supervised child process by default).
    SIGTERM shuts both down gracefully."""
    import uvicorn

    from taichu.app import create_app

    os.environ.setdefault("TAICHU_JOBS__RUN_IN", "process" if jobs_in_process else "subprocess")
    settings = _settings(database_url, data_dir)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.jobs.shutdown_grace_seconds) + 5,
    )


@app.command()
def migrate(database_url: DbOpt = None, data_dir: DirOpt = None) -> None:
    """Apply database migrations (Alembic) up to the latest schema."""
    from taichu.db.migrate import upgrade

    settings = _settings(database_url, data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    console.print("[green]database is at the latest schema[/green]")


@admin_app.command("reset-password")
def reset_password(
    username: str,
    password: Annotated[
        str | None, typer.Option(help="New password; prompted for when omitted.")
    ] = None,
    database_url: DbOpt = None,
    data_dir: DirOpt = None,
) -> None:
    """Set a user's password (for a lost admin password). Audited."""
    from taichu.admin import reset_password as do_reset

    settings = _settings(database_url, data_dir)
    if password is None:
        password = getpass.getpass(f"New password for {username}: ")
        if password != getpass.getpass("Repeat: "):
            console.print("[red]passwords differ[/red]")
            raise typer.Exit(2)
    message = asyncio.run(do_reset(settings, username, password))
    if message:
        console.print(f"[red]{message}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]password of {username} updated[/green]")


@admin_app.command("unlock")
def unlock(username: str, database_url: DbOpt = None, data_dir: DirOpt = None) -> None:
    """Clear a user's failed-login locks at every address (any case of the name). Audited."""
    from taichu.admin import unlock as do_unlock

    error, name = asyncio.run(do_unlock(_settings(database_url, data_dir), username))
    if error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]login locks of {name} cleared[/green]")


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter("expected SEQ:HASH, as an earlier verify printed it")
    return int(seq), digest.lower()


AnchorOpt = Annotated[
    str | None,
    typer.Option(
        "--anchor",
        help="SEQ:HASH of a head printed by an earlier verify and kept elsewhere: "
        "shows whether the newest records were removed since",
    ),
]


@audit_app.command("verify")
def audit_verify(
    database_url: DbOpt = None, data_dir: DirOpt = None, anchor: AnchorOpt = None
) -> None:
    """Check the audit log's hash chain; report the first altered or removed record."""
    from taichu.admin import verify_audit

    settings = _settings(database_url, data_dir)
    result = asyncio.run(verify_audit(settings, _anchor(anchor)))
    broken = result.broken
    if broken is None:
        console.print(f"[green]audit chain intact: {result.checked} records verified[/green]")
        if result.head is not None:
            # The chain cannot show that its newest records were removed; this can.
            console.print(
                f"head: {result.head[0]}:{result.head[1]} (keep it outside this "
                "database; `taichu audit verify --anchor` it later)"
            )
        return
    where = f"record seq={broken.seq}" + (f" id={broken.record_id}" if broken.record_id else "")
    console.print(f"[red]audit chain broken at {where}: {broken.reason}[/red]")
    console.print(f"{result.checked} records before it verified")
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
