"""Upgrading to `clusters.shared` (migration 0008_runtime_owner): clusters an admin added
stay open to every user's bindings; a user's own become private, and a binding another
user made to one before the upgrade is no longer used (its token is not sent there)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from taichu.auth.passwords import hash_password
from taichu.config import Settings
from taichu.crypto import secret_box
from taichu.db.base import UTCDateTime
from taichu.db.migrate import upgrade_async
from taichu.db.session import make_engine
from taichu.timeutil import utcnow
from tests.clusters.serving import ADMIN_PASSWORD, USER_PASSWORD, fake_apiserver
from tests.support.db import create_database, drop_database
from tests.support.server import login_token, running_server, server_env

SECRET = "shared-migration-secret-0123456789abcdef"
_TYPES = {"created_at": UTCDateTime(), "updated_at": UTCDateTime(), "labels": sa.JSON()}


def _table(name: str, rows: list[dict[str, object]]) -> sa.TableClause:
    """The table as it was at 0005, with the app's types where they matter (times, JSON)."""
    keys = dict.fromkeys(k for row in rows for k in row)
    return sa.table(name, *(sa.column(k, _TYPES.get(k)) for k in keys))


async def _seed(url: str, fake_server: str, ca_pem: bytes) -> dict[str, str]:
    """Users and clusters as they were at revision 0005; returns their ids."""
    ids = {k: str(uuid.uuid4()) for k in ("admin", "alice", "bob", "c_admin", "c_alice", "c_gone")}
    box = secret_box(Settings(secret_key=SECRET, data_dir=Path("/nonexistent")))
    now = utcnow()
    engine = make_engine(url)
    user_row = {"password_change_required": False, "created_at": now, "updated_at": now}
    user_hash = hash_password(USER_PASSWORD)
    cluster_row = {
        "description": "",
        "status": "unknown",
        "provider": "p",
        "region": "r",
        "environment_type": "default",
        "labels": {},
        "source": "runtime",
        "api_server_url": fake_server,
        "ca_data_encrypted": box.encrypt(ca_pem),
        "insecure_skip_tls_verify": False,
        "node_count": 0,
        "ready_node_count": 0,
        "total_cpu_cores": 0.0,
        "total_memory_bytes": 0,
        "total_storage_bytes": 0,
        "created_at": now,
        "updated_at": now,
    }
    users = [
        ("admin", "admin", hash_password(ADMIN_PASSWORD)),
        ("alice", "user", user_hash),
        ("bob", "user", user_hash),
    ]
    clusters = [("c_admin", "admin"), ("c_alice", "alice"), ("c_gone", None)]
    try:
        async with engine.begin() as conn:
            user_rows = [
                {**user_row, "id": ids[name], "username": name, "role": role, "password_hash": pw}
                for name, role, pw in users
            ]
            await conn.execute(_table("users", user_rows).insert(), user_rows)
            cluster_rows = [
                {
                    **cluster_row,
                    "id": ids[key],
                    "name": key.replace("_", "-"),
                    "owner_id": ids[owner] if owner else str(uuid.uuid4()),
                }
                for key, owner in clusters
            ]
            await conn.execute(_table("clusters", cluster_rows).insert(), cluster_rows)
            # Bob bound tokens to Alice's cluster and to the admin's before the upgrade.
            binding_rows = [
                {
                    "id": str(uuid.uuid4()),
                    "user_id": ids["bob"],
                    "cluster_id": ids[key],
                    "namespace": "default",
                    "token_encrypted": box.encrypt(f"bobs-token-for-{key}"),
                    "created_at": now,
                    "updated_at": now,
                }
                for key in ("c_alice", "c_admin")
            ]
            await conn.execute(_table("k8s_account_bindings", binding_rows).insert(), binding_rows)
        await upgrade_async(url)
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT id, shared FROM clusters"))
            shared = {row[0]: bool(row[1]) for row in rows}
    finally:
        await engine.dispose()
    assert shared == {ids["c_admin"]: True, ids["c_alice"]: False, ids["c_gone"]: False}
    return ids


def test_upgrade_keeps_admins_clusters_shared_and_users_private(tmp_path: Path) -> None:
    url = asyncio.run(create_database(str(tmp_path), "shared_upgrade", revision="0005"))
    try:
        with fake_apiserver() as fake:
            ids = asyncio.run(_seed(url, fake.server, fake.ca_pem))
            env = server_env(
                url,
                tmp_path / "data",
                TAICHU_SECRET_KEY=SECRET,
                TAICHU_KUBE__ALLOWED_NETWORKS="127.0.0.0/8",
            )
            with running_server(env, tmp_path / "server.log") as server:
                bob = {"Authorization": f"Bearer {login_token(server.url, 'bob', USER_PASSWORD)}"}

                def pods(cluster: str) -> httpx.Response:
                    return httpx.get(
                        f"{server.url}/api/runtime/pods/?cluster_id={ids[cluster]}",
                        headers=bob,
                        timeout=60,
                    )

                refused = pods("c_alice")
                assert refused.status_code == 403, refused.text
                assert "another user" in refused.json()["detail"]
                assert "bobs-token-for-c_alice" not in fake.seen_tokens
                # The admin's cluster still uses Bob's binding (this server rejects it).
                assert pods("c_admin").status_code != 200
                assert "bobs-token-for-c_admin" in fake.seen_tokens
    finally:
        asyncio.run(drop_database(url))
