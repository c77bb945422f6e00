"""Concurrent creates of one unique name against a real `taichu serve` and the lab's real
cluster: every request passes the "is the name free?" read before any commits, so the
database's unique constraint decides. Exactly one is stored, the others are 409 naming the
name, never a 500 (on PostgreSQL a violation outside a savepoint aborts the request's
transaction: that is what these catch; SQLite serialises writers, so it passes there too)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import register
from tests.clusters.serving import Served, serve

pytestmark = pytest.mark.lab

RACERS = 8


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("concurrent-creates"), "concurrent_creates") as served:
        yield served


def race(n: int, attempt: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """`attempt(i)` for i < n, all at once from n threads."""
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(attempt, range(n)))


def codes(responses: list[httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


def register_over_http(served: Served, name: str, kubeconfig: str) -> httpx.Response:
    async def once() -> httpx.Response:
        async with httpx.AsyncClient(base_url=served.url, timeout=120) as client:
            return await register(client, served.admin, name, kubeconfig)

    return asyncio.run(once())


def cluster_names(served: Served) -> list[str]:
    with served.client() as client:
        response = client.get("/api/v1/clusters?limit=100", headers=served.admin)
    assert response.status_code == 200, response.text
    return [c["name"] for c in response.json()["data"]["clusters"]]


def test_concurrent_registrations_of_one_name_store_one(
    served: Served, lab_cluster: LabCluster
) -> None:
    responses = race(RACERS, lambda _: register_over_http(served, "raced", lab_cluster.kubeconfig))
    assert codes(responses) == [200] + [409] * (RACERS - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {
                "code": 409,
                "message": "cluster name 'raced' already exists",
                "data": None,
            }
    assert cluster_names(served).count("raced") == 1


def test_concurrent_runtime_registrations_of_one_name_store_one(
    served: Served, lab_cluster: LabCluster
) -> None:
    parts = urlsplit(lab_cluster.server)
    body = {
        "name": "raced-by-address",
        "api_server": parts.hostname,
        "port": parts.port,
        "ca_certificate": lab_cluster.ca_pem.decode(),
    }

    def attempt(_: int) -> httpx.Response:
        with served.client(timeout=120) as client:
            return client.post("/api/runtime/clusters/register/", json=body, headers=served.admin)

    responses = race(RACERS, attempt)
    assert codes(responses) == [200] + [409] * (RACERS - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"detail": "cluster name 'raced-by-address' already exists"}
    assert cluster_names(served).count("raced-by-address") == 1


def test_concurrent_backup_schedules_of_one_name_store_one(
    served: Served, lab_cluster: LabCluster
) -> None:
    created = register_over_http(served, "scheduled-race", lab_cluster.kubeconfig)
    assert created.status_code == 200, created.text
    base = f"/api/v1/clusters/{created.json()['data']['id']}/backup-schedules"

    def attempt(_: int) -> httpx.Response:
        body = {"name": "nightly", "cron_expression": "0 2 * * *"}
        with served.client() as client:
            return client.post(base, json=body, headers=served.admin)

    responses = race(RACERS, attempt)
    assert codes(responses) == [200] + [409] * (RACERS - 1), [r.text for r in responses]
    message = "name: a backup schedule named 'nightly' exists for this cluster"
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"code": 409, "message": message, "data": None}

    # Renaming several schedules to one new name at once: one is renamed.
    ids = []
    with served.client() as client:
        for i in range(4):
            made = client.post(
                base,
                json={"name": f"mover-{i}", "cron_expression": "@daily"},
                headers=served.admin,
            )
            assert made.status_code == 200, made.text
            ids.append(made.json()["data"]["id"])

    def rename(i: int) -> httpx.Response:
        with served.client() as client:
            return client.put(f"{base}/{ids[i]}", json={"name": "moved"}, headers=served.admin)

    responses = race(4, rename)
    assert codes(responses) == [200, 409, 409, 409], [r.text for r in responses]
    with served.client() as client:
        listed = client.get(f"{base}?limit=100", headers=served.admin)
    assert listed.status_code == 200, listed.text
    names = sorted(s["name"] for s in listed.json()["data"]["schedules"])
    assert names.count("nightly") == 1 and names.count("moved") == 1 and len(names) == 5


def test_concurrent_first_binds_of_one_account_all_succeed(
    served: Served, lab_cluster: LabCluster
) -> None:
    """Binding again replaces the token, so racing first binds of one user to one cluster
    are all 200 (one row: the pair is unique), and the user's reads then run as it."""
    parts = urlsplit(lab_cluster.server)
    with served.client(timeout=120) as client:
        registered = client.post(
            "/api/runtime/clusters/register/",
            json={
                "name": "bind-race",
                "api_server": parts.hostname,
                "port": parts.port,
                "ca_certificate": lab_cluster.ca_pem.decode(),
            },
            headers=served.admin,
        )
    assert registered.status_code == 200, registered.text
    cluster_id = registered.json()["id"]
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    token = lab_cluster.mint_token("bind-race", "binder", rules=rules)
    user = served.new_user("binder")

    def attempt(_: int) -> httpx.Response:
        body = {"cluster_id": cluster_id, "token": token, "namespace": "bind-race"}
        with served.client(timeout=120) as client:
            return client.post("/api/auth/k8s/account/bind/", json=body, headers=user)

    responses = race(RACERS, attempt)
    assert codes(responses) == [200] * RACERS, [r.text for r in responses]
    assert {r.json()["subject"] for r in responses} == {"system:serviceaccount:bind-race:binder"}
    with served.client() as client:
        pods = client.get(
            f"/api/runtime/pods/?cluster_id={cluster_id}&namespace=bind-race", headers=user
        )
    assert pods.status_code == 200, pods.text
