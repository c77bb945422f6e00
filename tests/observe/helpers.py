"""Helpers of the observe tests: a registered lab cluster, namespaces, and GETs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from taichu.context import AppContext
from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import register


async def registered(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    cluster: LabCluster,
    name: str | None = None,
) -> str:
    response = await register(
        client, headers, name or f"obs-{uuid.uuid4().hex[:6]}", cluster.kubeconfig
    )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


async def get_data(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0 and body["message"] == "success"
    return body["data"]


def app_ctx(client: httpx.AsyncClient) -> AppContext:
    return client._transport.app.state.ctx  # type: ignore[attr-defined]


@contextmanager
def namespace(cluster: LabCluster, labels: dict[str, str] | None = None) -> Iterator[str]:
    """A namespace of the test's own on the shared cluster, deleted afterwards."""
    name = f"obs-{uuid.uuid4().hex[:8]}"
    cluster.api.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})
    try:
        yield name
    finally:
        cluster.api.delete(f"/api/v1/namespaces/{name}")


def deployment(
    name: str,
    replicas: int,
    *,
    command: list[str] | None = None,
    cpu: str = "100m",
    memory: str = "64Mi",
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": "registry.local/app:1",
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
    }
    if command:
        container["command"] = command
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }
