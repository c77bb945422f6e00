from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import bearer, login
from tests.support.waiting import wait_for

__all__ = ["cluster_detail", "new_user", "pod_manifest", "register", "wait_for"]


async def register(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str,
    kubeconfig: str,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        "/api/v1/clusters",
        headers=headers,
        json={"name": name, "kubeconfig": kubeconfig, **extra},
    )


async def cluster_detail(
    client: httpx.AsyncClient, headers: dict[str, str], cluster_id: str
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/clusters/{cluster_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def new_user(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    await client.post("/api/auth/register/", json={"username": name, "password": "s3cret-pass"})
    return bearer(await login(client, name, "s3cret-pass"))


def pod_manifest(namespace: str, name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "app",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
                }
            ],
            "tolerations": [{"operator": "Exists"}],
        },
    }
