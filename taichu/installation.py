"""Before a process uses the database: is it there, reachable and migrated, and does it
belong to this process's secret? Every expected failure is one sentence that says what to
do (the CLI prints it and exits non-zero), never a traceback.

Replicas must share one master secret: what one encrypted (cluster credentials, backup
archives) another must decrypt. The first process that starts records a fingerprint of
its secret in the database (an HMAC under a key derived from it; never the secret), and a
process whose secret differs refuses to start."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine

from taichu import datadir
from taichu.config import Settings
from taichu.crypto import create_master_secret, fingerprint, read_master_secret, secret_file
from taichu.db.migrate import alembic_config, upgrade_async
from taichu.db.session import make_engine
from taichu.errors import TaichuError
from taichu.system.models import InstallationValue

# serve: may create the SQLite database and the secret; migrates SQLite.
# worker: may create the secret (it may be the first process on PostgreSQL), not the database.
# command: needs everything to exist (admin, audit, jobs tools).
# migrate: creates or upgrades the schema; needs no secret.
Mode = Literal["serve", "worker", "command", "migrate"]
FINGERPRINT_KEY = "secret_fingerprint"
CONNECT_TIMEOUT_SECONDS = 20.0
T = TypeVar("T")
EXAMPLE_URL = "postgresql+asyncpg://user:password@host:5432/taichu"


class StartRefused(TaichuError):
    """This process must not use the database as configured; the message says why."""

    status = 503


async def prepare(settings: Settings, mode: Mode) -> None:
    url = settings.resolved_database_url
    where = _shown(url)
    db_file = datadir.sqlite_path(url)
    if db_file is not None and not db_file.exists():
        if mode == "serve" or (mode == "migrate" and _explicit(settings)):
            datadir.private_dir(db_file.parent)
            datadir.private_file(db_file)
        else:
            raise StartRefused(
                f"no database at {db_file} (set TAICHU_DATA_DIR or --data-dir, "
                "or start `taichu serve` once)"
            )
    if mode in ("serve", "worker"):
        datadir.prepare(settings.data_dir, _outside_backup_dir(settings))
    engine = _engine(url)
    try:
        await _guarded(_ping(engine), where)
        if mode == "migrate" or (mode == "serve" and db_file is not None):
            await _guarded(upgrade_async(url), where, limit=None)  # may take long
        await _guarded(_check_schema(engine, url), where)
        if mode != "migrate":
            await _guarded(_check_secret(settings, engine, may_create=mode != "command"), where)
    finally:
        await engine.dispose()


async def _ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def settings_error(error: ValidationError) -> str:
    """An invalid TAICHU_* value as one line naming the variable."""
    first = error.errors()[0]
    where = "TAICHU_" + "__".join(str(part) for part in first["loc"]).upper()
    return f"invalid setting {where}: {first['msg']}"


def _explicit(settings: Settings) -> bool:
    # `migrate` creates a SQLite database only where it was told to, never in ./data by
    # accident of the directory it was run from.
    return bool({"data_dir", "database_url"} & settings.model_fields_set)


def _outside_backup_dir(settings: Settings) -> tuple[Path, ...]:
    local = settings.backups.local_dir
    return (local,) if local is not None and settings.data_dir not in local.parents else ()


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise StartRefused(
            f"TAICHU_DATABASE_URL is not a database URL (expected e.g. {EXAMPLE_URL})"
        ) from None


def _engine(url: str) -> AsyncEngine:
    try:
        return make_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as e:
        raise StartRefused(
            f"unsupported database URL {_shown(url)}: use sqlite+aiosqlite:///PATH or "
            f"{EXAMPLE_URL} ({type(e).__name__})"
        ) from None


async def _guarded(
    step: Coroutine[Any, Any, T], where: str, limit: float | None = CONNECT_TIMEOUT_SECONDS
) -> T:
    """Runs a step; turns an unreachable or refusing database into one sentence."""
    try:
        return await asyncio.wait_for(step, limit)
    except TimeoutError:
        raise StartRefused(
            f"cannot reach the database at {where}: no answer in {CONNECT_TIMEOUT_SECONDS:.0f}s"
        ) from None
    except (DBAPIError, OSError) as e:
        raise StartRefused(f"cannot use the database at {where}: {_reason(e)}") from None
    except (ArgumentError, NoSuchModuleError, ImportError) as e:
        raise StartRefused(
            f"unsupported database URL {where}: use sqlite+aiosqlite:///PATH or "
            f"{EXAMPLE_URL} ({type(e).__name__})"
        ) from None
    except CommandError as e:  # e.g. a schema newer than this version's migrations
        raise StartRefused(f"cannot migrate the database at {where}: {_reason(e)}") from None


def _reason(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return first[:300]


async def _check_schema(engine: AsyncEngine, url: str) -> None:
    async with engine.connect() as conn:
        try:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        except DBAPIError:
            rows = []
    current = {row[0] for row in rows}
    if not current:
        raise StartRefused("database schema missing: run `taichu migrate` first")
    scripts = ScriptDirectory.from_config(alembic_config(url))
    heads = set(scripts.get_heads())
    if current == heads:
        return
    known = {rev.revision for rev in scripts.walk_revisions()}
    if current - known:
        raise StartRefused(
            f"database schema {', '.join(sorted(current - known))} is newer than this "
            "version of taichu: upgrade taichu here too"
        )
    raise StartRefused(
        f"database schema is at {', '.join(sorted(current))}, this version needs "
        f"{', '.join(sorted(heads))}: run `taichu migrate`"
    )


async def _stored(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        query = select(InstallationValue.value).where(InstallationValue.key == FINGERPRINT_KEY)
        return (await conn.execute(query)).scalar()


async def _record(engine: AsyncEngine, value: str) -> str:
    """Records the fingerprint unless another process did first; returns what is stored."""
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(InstallationValue).values(key=FINGERPRINT_KEY, value=value))
    except IntegrityError:
        stored = await _stored(engine)
        assert stored is not None  # the row that made the insert fail
        return stored
    return value


async def _check_secret(settings: Settings, engine: AsyncEngine, *, may_create: bool) -> None:
    stored = await _stored(engine)
    secret = read_master_secret(settings)
    wrote = False
    if secret is None:
        if stored is not None:
            raise StartRefused(_other_secret(settings, has_own=False))
        if not may_create:
            raise StartRefused(
                f"no installation secret here (TAICHU_SECRET_KEY unset, no "
                f"{secret_file(settings)}): set TAICHU_SECRET_KEY or --data-dir to the "
                "installation's, or start `taichu serve` once"
            )
        secret, wrote = create_master_secret(settings)
    try:
        mine = fingerprint(secret)
        if stored is None:
            stored = await _record(engine, mine)
        if stored != mine:
            raise StartRefused(_other_secret(settings, has_own=not wrote))
    except BaseException:
        if wrote:  # a refused start leaves no secret behind that looks like the real one
            secret_file(settings).unlink(missing_ok=True)
        raise


def _other_secret(settings: Settings, *, has_own: bool) -> str:
    if not has_own:
        mine = f"this process has none: TAICHU_SECRET_KEY unset, no {secret_file(settings)}"
    elif settings.secret_key:
        mine = "this process uses TAICHU_SECRET_KEY"
    else:
        mine = f"this process uses {secret_file(settings)}"
    return (
        f"this database belongs to an installation with another secret ({mine}): set "
        "TAICHU_SECRET_KEY to the installation's secret or copy data/secret.key from the "
        "data dir of the process that first started on this database to "
        f"{secret_file(settings)}; nothing was changed"
    )
