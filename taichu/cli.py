"""The `taichu` command: serve, migrate, admin tools, audit verification, lab helpers."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from taichu import installation
from taichu.config import Settings, get_settings
from taichu.installation import Mode

app = typer.Typer(help="Taichu (太初): multi-cluster Kubernetes management.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration of accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True, soft_wrap=True)  # lines stay whole for grep and copy
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# What the server and its workers write (databases, archives, spool files) is theirs alone.
PRIVATE_UMASK = 0o077


def _register_optional_apps() -> None:
    from taichu.artifacts.cli import artifact_app
    from taichu.blacklist.cli import blacklist_app
    from taichu.jobs.cli import jobs_app
    from taichu.machines.import_cli import machines_app

    app.add_typer(artifact_app, name="artifact")
    app.add_typer(blacklist_app, name="blacklist")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(machines_app, name="machines")
    try:
        from taichu.lab.cli import lab_app
    except ImportError as e:  # the lab's extra is not installed: say so, do not vanish
        missing = e.name or "a dependency"

        @app.command(
            "lab", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
        )
        def lab_missing(args: Annotated[list[str] | None, typer.Argument()] = None) -> None:
            """Local real clusters and SSH hosts (needs the `lab` extra)."""
            console.print(
                f"`taichu lab` needs the lab extra ({missing} is missing): "
                "pip install 'taichu[lab]' (`make serve` installs it)",
                style="red",
                markup=False,
            )
            raise typer.Exit(1)

        return
    app.add_typer(lab_app, name="lab")


_register_optional_apps()


def _settings(
    database_url: str | None = None,
    data_dir: Path | None = None,
    mode: Mode = "command",
) -> Settings:
    """The settings, after checking that the database is there, migrated (`migrate` and
    `serve` on SQLite migrate it) and this installation's; any failure of that is one
    sentence on stderr and exit status 1, never a traceback or an empty ./data."""
    # Flags win over TAICHU_* variables; exported so subprocesses and reloads agree.
    if database_url:
        os.environ["TAICHU_DATABASE_URL"] = database_url
    if data_dir:
        os.environ["TAICHU_DATA_DIR"] = str(data_dir)
    try:
        settings = get_settings()
    except ValidationError as e:
        console.print(installation.settings_error(e), style="red", markup=False)
        raise typer.Exit(2) from None
    if mode == "serve":
        logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
        os.umask(PRIVATE_UMASK)
    try:
        asyncio.run(installation.prepare(settings, mode))
    except installation.StartRefused as e:
        console.print(e.message, style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    return settings


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
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="PEM certificate chain: serve HTTPS (TAICHU_TLS__CERT_FILE)."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="PEM private key of --tls-cert (TAICHU_TLS__KEY_FILE).")
    ] = None,
) -> None:
    """Run the API server and its job workers (a supervised child process by default).
    SIGTERM shuts both down gracefully."""
    from taichu.api.serve import ServeError, run

    os.environ.setdefault("TAICHU_JOBS__RUN_IN", "process" if jobs_in_process else "subprocess")
    if tls_cert:
        os.environ["TAICHU_TLS__CERT_FILE"] = str(tls_cert)
    if tls_key:
        os.environ["TAICHU_TLS__KEY_FILE"] = str(tls_key)
    settings = _settings(database_url, data_dir, "serve")
    try:
        run(settings, host or settings.host, port or settings.port)
    except ServeError as e:
        console.print(f"[red]cannot start: {escape(str(e))}[/red]")
        raise typer.Exit(2) from None


@app.command()
def migrate(database_url: DbOpt = None, data_dir: DirOpt = None) -> None:
    """Apply database migrations (Alembic) up to the latest schema. On SQLite it creates the
    database only where it is told to (TAICHU_DATA_DIR, --data-dir or a database URL)."""
    _settings(database_url, data_dir, "migrate")
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


@audit_app.command("seal")
def audit_seal(database_url: DbOpt = None, data_dir: DirOpt = None) -> None:
    """Once, right after the upgrade that keyed the audit chain: give the records written
    before it a MAC. Only while no record has one; never needed again. Audited."""
    from taichu.admin import installation_secret_missing, seal_audit

    settings = _settings(database_url, data_dir)
    missing = installation_secret_missing(settings)
    if missing:
        console.print(f"[red]{missing}[/red]")
        raise typer.Exit(2)
    sealed = asyncio.run(seal_audit(settings))
    if not sealed:
        console.print(
            "nothing sealed: no record lacks a MAC, or some already have one (then a record "
            "without one is a break that `taichu audit verify` reports, not something to seal)"
        )
        return
    console.print(
        f"[green]sealed {sealed} records written before the chain was keyed[/green]: they "
        "are only as trustworthy as the log was until now"
    )


@audit_app.command("verify")
def audit_verify(
    database_url: DbOpt = None, data_dir: DirOpt = None, anchor: AnchorOpt = None
) -> None:
    """Check the audit log's keyed hash chain; report the first altered or removed record.
    Prints `head: SEQ:HASH` on stdout (everything else on stderr) for scripts to keep.
    Needs the installation secret (TAICHU_SECRET_KEY or the data dir's secret.key)."""
    from taichu.admin import installation_secret_missing, verify_audit

    settings = _settings(database_url, data_dir)
    parsed_anchor = _anchor(anchor)
    missing = installation_secret_missing(settings)
    if missing:
        console.print(f"[red]{missing}[/red]")
        raise typer.Exit(2)
    result = asyncio.run(verify_audit(settings, parsed_anchor))
    for seal in result.seals:
        console.print(
            f"records 1..{seal.through_seq} were written before the chain was keyed and "
            f"sealed at {seal.sealed_at.isoformat(timespec='seconds')} (record {seal.seq}): "
            "they are only as trustworthy as the log was then"
        )
    broken = result.broken
    if broken is None:
        console.print(f"[green]audit chain intact: {result.checked} records verified[/green]")
        if result.head is not None:
            # The chain cannot show that its newest records were removed; a kept head can.
            console.print(
                "keep the head outside this database; `taichu audit verify --anchor` it later"
            )
            typer.echo(f"head: {result.head[0]}:{result.head[1]}")
        return
    where = f"record seq={broken.seq}" + (f" id={broken.record_id}" if broken.record_id else "")
    console.print(f"[red]audit chain broken at {where}: {broken.reason}[/red]")
    console.print(f"{result.checked} records before it verified")
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
