"""`taichu machines import FILE`: bring a KubeKey-style hosts list into the inventory.

The machines are created through the running server's API (validated and audited there,
with the operator as the actor), never written to the database behind its back.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taichu.errors import Invalid
from taichu.machines.inventory_file import HostEntry, read_hosts_file

machines_app = typer.Typer(help="The machine inventory.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)
REQUEST_SECONDS = 30.0
POLL_SECONDS = 1.0
MAX_ANSWER_BYTES = 1024 * 1024
MAX_MESSAGE_CHARS = 300


@dataclass
class Row:
    entry: HostEntry
    status: str = "pending"  # exists | failed | the machine's status once checked
    reason: str = ""
    machine_id: str | None = None
    checked: bool = False

    @property
    def ok(self) -> bool:
        return self.status in ("available", "exists")


class ImportAborted(Exception):
    """The run cannot go on (server unreachable, login refused): one sentence, exit 2."""


@machines_app.command("import")
def import_hosts(
    file: Annotated[Path, typer.Argument(help="KubeKey-style hosts list or Cluster config.")],
    server: Annotated[str, typer.Option(help="The Taichu server's URL.")] = "http://127.0.0.1:8081",
    username: Annotated[
        str | None,
        typer.Option(help="Sign in as this admin (password: TAICHU_PASSWORD or a prompt)."),
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the machines' checks, in all.")
    ] = 120.0,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Requests at once.")] = 8,
) -> None:
    """Create the machines of FILE, wait for their checks and print a table of results.
    Every entry is validated before any is created. An address already in the inventory is
    reported as `exists`. Exit status 1 when an entry failed or its machine is not
    available; 2 when nothing could be done. Token: TAICHU_TOKEN, or --username."""
    try:
        entries = read_hosts_file(file)
    except Invalid as e:
        err.print(e.message, style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    token = os.environ.get("TAICHU_TOKEN")
    password = None
    if not token:
        if not username:
            err.print("give a token in TAICHU_TOKEN, or --username", style="red")
            raise typer.Exit(2)
        password = os.environ.get("TAICHU_PASSWORD") or getpass.getpass(f"Password of {username}: ")
    rows = [Row(entry) for entry in entries]
    try:
        asyncio.run(_run(server.rstrip("/"), token, username, password, rows, wait, concurrency))
    except ImportAborted as e:
        err.print(f"{server}: {e}", style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    table = Table("name", "address", "status", "reason")
    for row in rows:
        style = "green" if row.ok else "red"
        table.add_row(row.entry.name, row.entry.address, f"[{style}]{row.status}[/]", row.reason)
    Console(soft_wrap=True, width=200 if not sys.stdout.isatty() else None).print(table)
    failed = sum(not row.ok for row in rows)
    if failed:
        err.print(f"{failed} of {len(rows)} entries failed or are not available", style="red")
        raise typer.Exit(1)


async def _run(
    base: str,
    token: str | None,
    username: str | None,
    password: str | None,
    rows: list[Row],
    wait: float,
    concurrency: int,
) -> None:
    timeout = aiohttp.ClientTimeout(total=REQUEST_SECONDS)
    # trust_env=False: no proxy or netrc from the environment decides where a token goes.
    async with aiohttp.ClientSession(base, timeout=timeout, trust_env=False) as http:
        if token is None:
            token = await _login(http, base, username or "", password or "")
        headers = {"Authorization": f"Bearer {token}"}
        limit = asyncio.Semaphore(concurrency)
        with _progress(len(rows)) as progress:
            task = progress.add_task("creating", total=len(rows))

            async def create(row: Row) -> None:
                async with limit:
                    await _create(http, headers, row)
                if row.machine_id is None:
                    progress.advance(task)
                    _plain(progress, row)

            await asyncio.gather(*(create(row) for row in rows))
            progress.update(task, description="checking")
            deadline = time.monotonic() + wait
            pending = [r for r in rows if r.machine_id and not r.checked]
            while pending and time.monotonic() < deadline:

                async def poll(row: Row) -> None:
                    async with limit:
                        await _poll(http, headers, row)
                    if row.checked:
                        progress.advance(task)
                        _plain(progress, row)

                await asyncio.gather(*(poll(row) for row in pending))
                pending = [r for r in pending if not r.checked]
                if pending:
                    await asyncio.sleep(POLL_SECONDS)
            for row in pending:
                row.reason = f"its check did not finish within {wait:g} s ({row.status})"
                row.status = "failed"


def _progress(total: int) -> Progress:
    # On a terminal a live bar; otherwise (logs, CI) one plain line per finished entry.
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def _plain(progress: Progress, row: Row) -> None:
    if progress.disable:
        err.print(f"{row.entry.name} ({row.entry.address}): {row.status}", markup=False)


async def _call(
    http: aiohttp.ClientSession, method: str, path: str, **kw: Any
) -> tuple[int, dict[str, Any]]:
    try:
        async with http.request(method, path, **kw) as response:
            raw, too_big = bytearray(), False
            async for chunk in response.content.iter_chunked(64 * 1024):
                raw += chunk
                if len(raw) > MAX_ANSWER_BYTES:
                    too_big = True
                    break
            try:
                body = {} if too_big else await asyncio.to_thread(_json, bytes(raw))
            except ValueError:
                body = {}
            return response.status, body
    except (aiohttp.ClientError, TimeoutError) as e:
        raise ImportAborted(f"cannot reach the server: {type(e).__name__} {e}".strip()) from e


def _json(raw: bytes) -> dict[str, Any]:
    import json

    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def _message(status: int, body: dict[str, Any]) -> str:
    message = str(body.get("message") or body.get("detail") or f"HTTP {status}")
    return message[:MAX_MESSAGE_CHARS]


async def _login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    status, body = await _call(
        http, "POST", "/api/v1/auth/login", json={"username": username, "password": password}
    )
    data = body.get("data") or {}
    if status != 200 or not data.get("token"):
        raise ImportAborted(f"sign-in to {base} as {username} refused: {_message(status, body)}")
    return str(data["token"])


async def _create(http: aiohttp.ClientSession, headers: dict[str, str], row: Row) -> None:
    status, body = await _call(
        http, "POST", "/api/v1/machines", json=row.entry.to_request(), headers=headers
    )
    if status in (200, 201) and isinstance(body.get("data"), dict) and body["data"].get("id"):
        row.machine_id = str(body["data"]["id"])
        row.status = str(body["data"].get("status") or "pending")
    elif status == 409 and _message(status, body).startswith("ip_address"):
        # That address is in the inventory already: not this run's failure. (A name taken
        # by a machine at another address is a conflict, and fails.)
        row.status, row.reason = "exists", _message(status, body)
    else:
        row.status, row.reason = "failed", _message(status, body)


async def _poll(http: aiohttp.ClientSession, headers: dict[str, str], row: Row) -> None:
    status, body = await _call(http, "GET", f"/api/v1/machines/{row.machine_id}", headers=headers)
    data = body.get("data")
    if status != 200 or not isinstance(data, dict):
        row.status, row.reason, row.checked = "failed", _message(status, body), True
        return
    row.status = str(data.get("status") or row.status)
    if data.get("last_checked_at"):
        row.checked = True
        row.reason = str(data.get("status_message") or "")[:MAX_MESSAGE_CHARS]
