"""The migrations build exactly the schema the models describe, on the backend under test:
a model change without its migration fails here, not in an operator's upgrade."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import taichu.app  # noqa: F401 - imports every domain's models into the metadata
from taichu.context import AppContext
from taichu.db.base import Base
from taichu.db.migrate import upgrade_async
from taichu.db.session import make_engine
from taichu.timeutil import utcnow
from tests.support.db import create_database, drop_database


async def test_models_and_migrations_agree(ctx: AppContext) -> None:
    async with ctx.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []


async def test_upgrade_keeps_data_and_gives_existing_clusters_their_owner(
    tmp_path: Path,
) -> None:
    url = await create_database(str(tmp_path), "upgrade", revision="0004")
    engine = make_engine(url)
    now = utcnow()
    users = sa.table(
        "users",
        *(
            sa.column(c)
            for c in (
                "id",
                "username",
                "role",
                "password_hash",
                "password_change_required",
                "created_at",
                "updated_at",
            )
        ),
    )
    cluster_columns = {
        "description": "",
        "status": "healthy",
        "provider": "p",
        "region": "r",
        "environment_type": "default",
        "labels": {"env": "prod"},
        "source": "manual",
        "api_server_url": "https://10.0.0.1:6443",
        "insecure_skip_tls_verify": False,
        "node_count": 3,
        "ready_node_count": 3,
        "total_cpu_cores": 12.0,
        "total_memory_bytes": 2**34,
        "total_storage_bytes": 0,
        "created_at": now,
        "updated_at": now,
    }
    clusters = sa.table(
        "clusters",
        sa.column("id"),
        sa.column("name"),
        sa.column("created_by"),
        sa.column("labels", sa.JSON),
        *(sa.column(c) for c in cluster_columns if c != "labels"),
    )
    imports = sa.table(
        "cluster_imports",
        *(
            sa.column(c)
            for c in (
                "id",
                "cluster_id",
                "import_source",
                "import_status",
                "progress",
                "current_step",
                "error_message",
                "imported_by",
                "imported_at",
                "created_at",
                "updated_at",
            )
        ),
        sa.column("validation_results", sa.JSON),
    )
    try:
        async with engine.begin() as conn:
            later = now + timedelta(hours=1)
            await conn.execute(
                users.insert(),
                [
                    {
                        "id": "u-alice",
                        "username": "alice",
                        "role": "user",
                        "password_hash": "x",
                        "password_change_required": False,
                        "created_at": now,
                        "updated_at": now,
                    },
                    # "bob" was deleted and someone registered the name again after his cluster
                    # was added: the newcomer is not its owner.
                    {
                        "id": "u-bob-2",
                        "username": "bob",
                        "role": "user",
                        "password_hash": "x",
                        "password_change_required": False,
                        "created_at": later,
                        "updated_at": later,
                    },
                ],
            )
            await conn.execute(
                clusters.insert(),
                [
                    {"id": "c-1", "name": "mine", "created_by": "alice", **cluster_columns},
                    {"id": "c-2", "name": "orphan", "created_by": "gone", **cluster_columns},
                    {"id": "c-3", "name": "bobs", "created_by": "bob", **cluster_columns},
                ],
            )
            await conn.execute(
                imports.insert().values(
                    id="i-1",
                    cluster_id="c-1",
                    import_source="manual",
                    import_status="completed",
                    progress=100,
                    current_step="done",
                    error_message="",
                    imported_by="alice",
                    validation_results={},
                    imported_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        await engine.dispose()
        await upgrade_async(url)
        engine = make_engine(url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text("SELECT name, owner_id, node_count FROM clusters ORDER BY name")
                )
            ).all()
            versions = (await conn.scalars(sa.text("SELECT password_version FROM users"))).all()
            importer = await conn.scalar(sa.text("SELECT imported_by_id FROM cluster_imports"))
        assert [tuple(r) for r in rows] == [
            ("bobs", None, 3),
            ("mine", "u-alice", 3),
            ("orphan", None, 3),
        ]
        assert versions == [0, 0] and importer == "u-alice"
    finally:
        await engine.dispose()
        await drop_database(url)
