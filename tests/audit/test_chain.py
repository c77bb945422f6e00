"""The keyed audit chain: a rewrite by someone without the installation's secret is found
at its first record, `audit verify` needs the secret and prints its head for scripts, and
records written before the chain had a key are sealed once, by the operator."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from taichu.audit.models import AuditRecord
from taichu.audit.service import record_hash
from taichu.config import Settings
from taichu.context import AppContext

HEAD = re.compile(r"^head: (\d+:[0-9a-f]{64})$", re.MULTILINE)


def _env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    env.update(
        {
            "TAICHU_DATABASE_URL": settings.resolved_database_url,
            "TAICHU_DATA_DIR": str(settings.data_dir),
            "TAICHU_SECRET_KEY": settings.secret_key or "",
        }
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


async def _run(
    env: dict[str, str], *args: str, shell: str | None = None, verb: str = "verify"
) -> Any:
    command: list[str] = (
        ["bash", "-c", shell]
        if shell
        else [sys.executable, "-m", "taichu.cli", "audit", verb, *args]
    )
    # In a thread: the app under test shares this event loop and must keep running.
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def _records(client: httpx.AsyncClient, count: int) -> None:
    for i in range(count):
        body = {"username": f"chain{i:02d}", "password": "s3cret-pass"}
        assert (await client.post("/api/v1/auth/register", json=body)).status_code == 200


async def _rewrite_as_attacker(ctx: AppContext, seq: int) -> None:
    """Change record `seq` and recompute the unkeyed chain from there on, as someone with
    write access to the database but without the installation's secret can."""
    async with ctx.sessions.begin() as session:
        rows = list(
            await session.scalars(
                select(AuditRecord).where(AuditRecord.seq >= seq).order_by(AuditRecord.seq)
            )
        )
        rows[0].user = "someone-else"
        prev = rows[0].prev_hash
        for record in rows:
            record.prev_hash = prev
            record.hash = prev = record_hash(prev, record)


async def test_a_rewrite_with_recomputed_hashes_is_found_at_its_first_record(
    client: httpx.AsyncClient, settings: Settings, ctx: AppContext
) -> None:
    await _records(client, 10)
    env = _env(settings)
    intact = await _run(env)
    assert intact.returncode == 0, intact.stderr
    anchor = HEAD.search(intact.stdout)
    assert anchor is not None and anchor.group(1).startswith("10:"), intact.stdout

    await _rewrite_as_attacker(ctx, 4)
    plain = await _run(env)
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "broken at record seq=4 " in plain.stderr and "MAC does not match" in plain.stderr
    assert "3 records before it verified" in plain.stderr
    assert plain.stdout == ""  # no head for a broken chain
    anchored = await _run(env, "--anchor", anchor.group(1))
    assert anchored.returncode == 1
    assert "broken at record seq=4 " in anchored.stderr, anchored.stderr


async def test_a_removed_mac_is_a_break_and_is_not_sealed_again(
    client: httpx.AsyncClient, settings: Settings, ctx: AppContext, start_app: Any
) -> None:
    await _records(client, 3)
    async with ctx.sessions.begin() as session:
        await session.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(mac=None))
    await start_app(settings)  # a restart seals nothing: the chain is keyed already
    result = await _run(_env(settings))
    assert result.returncode == 1
    assert "seq=2 " in result.stderr and "has no MAC" in result.stderr


async def test_verify_needs_the_installation_secret(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await _records(client, 1)
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    missing = await _run(_env(settings, TAICHU_SECRET_KEY="", TAICHU_DATA_DIR=str(empty)))
    # The installation check (the secret's fingerprint in the database) refuses first.
    assert missing.returncode == 1
    assert "this process has none" in missing.stderr
    assert "TAICHU_SECRET_KEY" in missing.stderr and "Traceback" not in missing.stderr
    assert not (empty / "secret.key").exists()  # never a new secret
    wrong = await _run(_env(settings, TAICHU_SECRET_KEY="another-installations-secret-0123456"))
    assert wrong.returncode == 1
    assert "installation with another secret" in wrong.stderr
    (empty / "secret.key").write_text(settings.secret_key or "")
    from_file = await _run(_env(settings, TAICHU_SECRET_KEY="", TAICHU_DATA_DIR=str(empty)))
    assert from_file.returncode == 0, from_file.stderr


async def test_head_on_stdout_for_scripts(
    client: httpx.AsyncClient, settings: Settings, ctx: AppContext
) -> None:
    await _records(client, 2)
    script = (
        f"HEAD=$({sys.executable} -m taichu.cli audit verify | sed -n 's/^head: //p'); "
        'echo "kept=$HEAD"; '
        f'{sys.executable} -m taichu.cli audit verify --anchor "$HEAD"'
    )
    result = await _run(_env(settings), shell=script)
    assert result.returncode == 0, result.stderr
    kept = re.search(r"^kept=(2:[0-9a-f]{64})$", result.stdout, re.MULTILINE)
    assert kept is not None, result.stdout
    async with ctx.read_sessions() as session:
        newest = await session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == 2))
    assert kept.group(1) == f"2:{newest}"
    assert "audit chain intact: 2 records verified" in result.stderr


async def test_records_from_before_the_key_are_sealed_by_the_operator_not_by_a_restart(
    client: httpx.AsyncClient,
    settings: Settings,
    ctx: AppContext,
    start_app: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _records(client, 3)
    await _rewrite_as_attacker(ctx, 2)
    # An attacker without the key strips every MAC, so the log looks as an upgrade leaves
    # it. A restart must not seal that (it would launder the rewrite of record 2).
    async with ctx.sessions.begin() as session:
        await session.execute(update(AuditRecord).values(mac=None))
    with caplog.at_level(logging.WARNING, logger="taichu.audit"):
        await start_app(settings)
    assert "3 audit records have no MAC" in caplog.text and "taichu audit seal" in caplog.text
    still = await _run(_env(settings))
    assert still.returncode == 1 and "seq=1 " in still.stderr and "no MAC" in still.stderr
    # The operator's seal, right after the upgrade: once, audited, then verify passes.
    seal = await _run(_env(settings), verb="seal")
    assert seal.returncode == 0, seal.stderr
    assert "sealed 3 records written before the chain was keyed" in seal.stderr
    async with ctx.read_sessions() as session:
        record = await session.scalar(select(AuditRecord).where(AuditRecord.seq == 4))
    assert record is not None and (record.event_type, record.action) == ("audit", "seal")
    assert record.details == {"sealed": 3, "through_seq": 3}
    after = await _run(_env(settings))
    assert after.returncode == 0, after.stderr
    assert "4 records verified" in after.stderr
    assert "records 1..3 were written before the chain was keyed" in after.stderr
    again = await _run(_env(settings), verb="seal")
    assert again.returncode == 0 and "nothing sealed" in again.stderr
