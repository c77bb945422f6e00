"""`taichu blacklist list|remove`: the blacklist straight on the database, for the
operator who locked themself out (no server, no token needed). Removals are audited as
`cli`; running servers drop a removed entry at their next reload (≤ 5 s)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from taichu import installation
from taichu.audit.service import AuditEntry, append
from taichu.blacklist import service
from taichu.blacklist.models import BlacklistEntry
from taichu.config import Settings, get_settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import TaichuError
from taichu.timeutil import rfc3339, utcnow

blacklist_app = typer.Typer(
    help="The IP blacklist, on the database (works with every server down).",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
LIST_MAX = 10_000  # rows printed at most; the API pages through the rest

DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides TAICHU_DATABASE_URL.")]
DirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Overrides TAICHU_DATA_DIR.")]


def _settings(database_url: str | None, data_dir: Path | None) -> Settings:
    if database_url:
        os.environ["TAICHU_DATABASE_URL"] = database_url
    if data_dir:
        os.environ["TAICHU_DATA_DIR"] = str(data_dir)
    try:
        settings = get_settings()
        asyncio.run(installation.prepare(settings, "command"))
    except ValidationError as e:
        err.print(installation.settings_error(e), style="red", markup=False)
        raise typer.Exit(2) from None
    except installation.StartRefused as e:
        err.print(e.message, style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    return settings


async def _list(settings: Settings, include_expired: bool) -> list[BlacklistEntry]:
    ctx = AppContext.create(settings)
    try:
        async with ctx.read_sessions() as session:
            return await service.all_entries(session, include_expired=include_expired)
    finally:
        await ctx.close()


@blacklist_app.command("list")
def list_entries(
    include_expired: Annotated[
        bool, typer.Option("--all", help="Expired entries too (they no longer apply).")
    ] = False,
    database_url: DbOpt = None,
    data_dir: DirOpt = None,
) -> None:
    """The entries in force (oldest first): id, ip, action, source, expiry, hits, reason."""
    entries = asyncio.run(_list(_settings(database_url, data_dir), include_expired))
    now = utcnow()
    # Tab-separated, whole lines: for grep and scripts, never cut to a terminal's width.
    typer.echo("id\tip\taction\tsource\texpires_at\thits\tactive\treason")
    for entry in entries[:LIST_MAX]:
        fields = (
            entry.id,
            entry.ip,
            entry.action,
            entry.source,
            rfc3339(entry.expires_at) or "never",
            str(entry.hits),
            "yes" if entry.is_active(now) else "expired",
            entry.reason.replace("\t", " ").replace("\n", " "),
        )
        typer.echo("\t".join(fields))
    if len(entries) > LIST_MAX:
        err.print(f"{len(entries) - LIST_MAX} more not shown")


async def _remove(settings: Settings, target: str) -> list[BlacklistEntry]:
    ctx = AppContext.create(settings)
    try:
        async with transaction(ctx.sessions) as session:
            entries = await service.find_for_removal(session, target)
            for entry in entries:
                await session.delete(entry)
                record = AuditEntry(
                    event_type="anomaly",
                    action="delete",
                    resource="blacklist-entry",
                    result="success",
                    resource_id=entry.id,
                    user="cli",
                    old_value={**service.audit_view(entry), "hits": entry.hits},
                    details={"via": "taichu blacklist remove", "target": target[:64]},
                )
                await append(session, record, ctx.audit_key)
            await session.flush()
        return entries
    finally:
        await ctx.close()


@blacklist_app.command("remove")
def remove(
    target: Annotated[
        str,
        typer.Argument(
            help="An entry id; an address (every entry covering it, CIDRs included); or a "
            "CIDR (the entries of exactly that network)."
        ),
    ],
    database_url: DbOpt = None,
    data_dir: DirOpt = None,
) -> None:
    """Remove entries (expired ones too). Audited. Exit status 1 when nothing matched."""
    settings = _settings(database_url, data_dir)
    try:
        removed = asyncio.run(_remove(settings, target))
    except TaichuError as e:
        err.print(e.message, style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    if not removed:
        err.print(f"no blacklist entry matches {target}", style="red", markup=False)
        raise typer.Exit(1)
    for entry in removed:
        out.print(f"removed {entry.id} {entry.ip} ({entry.action}, {entry.source})", markup=False)
    err.print("running servers stop applying them within their refresh interval (≤ 5 s)")
