"""Binding a cluster account commits in a transaction of its own (none is held across the
call to the cluster): its audit record is written in that transaction too."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, text

from taichu.audit.models import AuditRecord
from taichu.clusters.models import K8sAccountBinding
from taichu.context import AppContext
from taichu.lab.cluster import LabCluster
from tests.audit.test_durability import _DROP, _TRIGGERS
from tests.clusters.helpers import new_user

pytestmark = pytest.mark.lab


async def test_account_binding_is_recorded_with_its_change(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
    ctx: AppContext,
) -> None:
    parts = urlsplit(lab_cluster.server)
    registered = await client.post(
        "/api/runtime/clusters/register/",
        headers=admin_headers,
        json={
            "name": "audited-bind",
            "api_server": parts.hostname,
            "port": parts.port,
            "ca_certificate": lab_cluster.ca_pem.decode(),
        },
    )
    assert registered.status_code == 200, registered.text
    cluster_id = registered.json()["id"]
    token = lab_cluster.mint_token("audit-bind", "binder", rules=[])
    user = await new_user(client, "binder")
    body = {"cluster_id": cluster_id, "token": token, "namespace": "audit-bind"}
    dialect = ctx.engine.dialect.name
    async with ctx.engine.begin() as conn:
        for statement in _TRIGGERS[dialect]:
            await conn.execute(text(statement))
    try:
        refused = await client.post("/api/auth/k8s/account/bind/", headers=user, json=body)
    finally:
        async with ctx.engine.begin() as conn:
            for statement in _DROP[dialect]:
                await conn.execute(text(statement))
    assert refused.status_code == 503, refused.text
    async with ctx.read_sessions() as session:
        assert await session.scalar(select(K8sAccountBinding.id)) is None
    bound = await client.post("/api/auth/k8s/account/bind/", headers=user, json=body)
    assert bound.status_code == 200, bound.text
    async with ctx.read_sessions() as session:
        binding_id = await session.scalar(select(K8sAccountBinding.id))
        record = await session.scalar(
            select(AuditRecord).where(AuditRecord.path == "/api/auth/k8s/account/bind/")
        )
    assert record is not None and record.resource_id == binding_id
    assert (record.status_code, record.result, record.user) == (200, "success", "binder")
