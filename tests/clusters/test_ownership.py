"""Who may manage a cluster and read what is in it: admins and the user who added it, known
by id (a deleted user's name registered again by someone else owns nothing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from taichu.config import KubeSettings, Settings
from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import new_user, register
from tests.conftest import ADMIN_PASSWORD, bearer, login

pytestmark = pytest.mark.lab


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    # Lab API servers listen on 127.0.0.1, which users may not register by default.
    return make_settings(kube=KubeSettings(allowed_networks=["127.0.0.0/8"]))


async def _statuses(
    client: httpx.AsyncClient, headers: dict[str, str], paths: list[str]
) -> set[int]:
    return {(await client.get(path, headers=headers)).status_code for path in paths}


async def test_only_the_owner_and_admins_reach_a_cluster(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    alice = await new_user(client, "alice")
    created = await register(client, alice, "alices", lab_cluster.kubeconfig)
    assert created.status_code == 200, created.text
    cid = created.json()["data"]["id"]
    node = lab_cluster.nodes("worker")[0]["metadata"]["name"]
    base = f"/api/v1/clusters/{cid}"
    contents = [
        f"{base}/nodes",
        f"{base}/nodes/{node}",
        f"{base}/events",
        f"{base}/security-policies",
        f"{base}/autoscaling-policies",
        f"{base}/audit",
        f"{base}/backups",
        f"{base}/backup-schedules",
    ]

    assert await _statuses(client, alice, contents) == {200}
    assert await _statuses(client, admin_headers, contents) == {200}
    bob = await new_user(client, "bob")
    assert await _statuses(client, bob, contents) == {403}
    assert (await client.delete(base, headers=bob)).status_code == 403
    backup = await client.post(
        f"{base}/backups", headers=bob, json={"backup_name": "b", "backup_type": "full"}
    )
    assert backup.status_code == 403
    # The catalogue entry itself (name, status, counts; no credentials) stays visible.
    assert (await client.get(base, headers=bob)).status_code == 200
    # Alice chose its server: Bob's token is not sent there.
    bound = await client.post(
        "/api/auth/k8s/account/bind/", headers=bob, json={"cluster_id": cid, "token": "bobs"}
    )
    assert bound.status_code == 403 and "another user" in bound.json()["detail"]

    # Alice's account is deleted and someone registers the name again: not the owner.
    alice_id = (await client.get("/api/v1/auth/profile", headers=alice)).json()["data"]["id"]
    deleted = await client.delete(f"/api/v1/users/{alice_id}", headers=admin_headers)
    assert deleted.status_code == 200
    impostor = await new_user(client, "alice")
    assert await _statuses(client, impostor, contents) == {403}
    assert (await client.delete(base, headers=impostor)).status_code == 403
    assert await _statuses(client, admin_headers, contents) == {200}
    assert (await client.delete(base, headers=admin_headers)).status_code == 200


async def test_imports_are_seen_by_who_started_them_and_admins(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    carol, dave = await new_user(client, "carol"), await new_user(client, "dave")
    started = await client.post(
        "/api/v1/clusters/import",
        headers=carol,
        json={
            "name": "carols",
            "kubeconfig": lab_cluster.kubeconfig,
            "import_source": "kubeconfig",
        },
    )
    assert started.status_code == 200, started.text
    import_id = started.json()["data"]["id"]

    async def listed(headers: dict[str, str]) -> list[str]:
        response = await client.get("/api/v1/clusters/imports", headers=headers)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["data"]["imports"]]

    assert await listed(carol) == [import_id]
    assert import_id in await listed(admin_headers)
    assert await listed(dave) == []
    status = f"/api/v1/imports/{import_id}/status"
    assert (await client.get(status, headers=carol)).status_code == 200
    assert (await client.get(status, headers=admin_headers)).status_code == 200
    assert (await client.get(status, headers=dave)).status_code == 404


async def test_a_users_cluster_is_held_to_the_users_rules_at_every_connect(
    start_app: Any,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
    make_settings: Any,
) -> None:
    """A user's address is checked at each connection, not only when registered (a name
    rebound to loopback later): with the allowance withdrawn and the server restarted,
    the platform's own reads of a user's loopback cluster are refused; an admin's are not."""
    alice = await new_user(client, "alice")
    users = await register(client, alice, "alices", lab_cluster.kubeconfig)
    admins = await register(client, admin_headers, "admins", lab_cluster.kubeconfig)
    assert users.status_code == admins.status_code == 200, (users.text, admins.text)
    ids = {name: r.json()["data"]["id"] for name, r in (("user", users), ("admin", admins))}

    restarted = await start_app(make_settings())  # the default: no allowance for users
    admin = bearer(await login(restarted, "admin", ADMIN_PASSWORD))
    refused = await restarted.get(f"/api/v1/clusters/{ids['user']}/nodes", headers=admin)
    assert refused.status_code == 503, refused.text
    assert "loopback" in refused.json()["message"], refused.text
    opened = await restarted.get(f"/api/v1/clusters/{ids['admin']}/nodes", headers=admin)
    assert opened.status_code == 200, opened.text
    assert len(opened.json()["data"]["nodes"]) == 4
