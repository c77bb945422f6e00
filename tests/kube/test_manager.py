"""ConnectionManager: caching, replacement, bounds and lending (no network for most)."""

from __future__ import annotations

import asyncio

import pytest

from taichu.kube import ClusterForbidden, ConnectionManager, access_from_token, parse_kubeconfig
from taichu.lab.cluster import LabCluster

SERVER = "https://10.0.0.1:6443"


async def test_same_access_shares_one_client() -> None:
    manager = ConnectionManager()
    async with manager.client("c1", access_from_token(SERVER, "t")) as first:
        pass
    async with manager.client("c1", access_from_token(SERVER, "t")) as again:
        assert again is first and not again.closed
    async with manager.client("c1", access_from_token(SERVER, "t"), "user:1") as other:
        assert other is not first
    async with manager.client("c2", access_from_token(SERVER, "t")) as elsewhere:
        assert elsewhere is not first
    assert len(manager) == 3
    await manager.close_all()
    assert first.closed and other.closed and elsewhere.closed and len(manager) == 0


async def test_changed_credentials_replace_the_client() -> None:
    manager = ConnectionManager()
    async with manager.client("c1", access_from_token(SERVER, "old")) as old:
        pass
    async with manager.client("c1", access_from_token(SERVER, "new")) as new:
        assert new is not old and old.closed and not new.closed
    assert len(manager) == 1
    await manager.close_all()


async def test_a_borrowed_client_is_closed_when_given_back() -> None:
    manager = ConnectionManager()
    async with manager.client("c1", access_from_token(SERVER, "old")) as old:
        async with manager.client("c1", access_from_token(SERVER, "new")) as new:
            assert not old.closed  # still lent out: its request must not break
        await manager.invalidate("c1")
        assert not old.closed and new.closed
    assert old.closed and len(manager) == 0


async def test_size_is_bounded_least_recently_used_first() -> None:
    manager = ConnectionManager(max_clients=2)
    clients = {}
    for cid in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" comes
        async with manager.client(cid, access_from_token(SERVER, "t")) as client:
            clients[cid] = client
    assert len(manager) == 2
    assert clients["b"].closed and not clients["a"].closed and not clients["c"].closed
    await manager.close_all()


async def test_invalidate_touches_one_cluster_only() -> None:
    manager = ConnectionManager()
    async with manager.client("a", access_from_token(SERVER, "t")) as a:
        pass
    async with manager.client("a", access_from_token(SERVER, "u"), "user:1") as a_user:
        pass
    async with manager.client("b", access_from_token(SERVER, "t")) as b:
        pass
    await manager.invalidate("a")
    assert a.closed and a_user.closed and not b.closed and len(manager) == 1
    await manager.close_all()


async def test_timeouts_are_passed_on() -> None:
    manager = ConnectionManager(connect_timeout=1.5, request_timeout=7)
    async with manager.client("a", access_from_token(SERVER, "t")) as client:
        assert (client.connect_timeout, client.request_timeout) == (1.5, 7)
    await manager.close_all()


@pytest.mark.lab
async def test_identities_side_by_side(lab_cluster: LabCluster) -> None:
    manager = ConnectionManager()
    admin = parse_kubeconfig(lab_cluster.kubeconfig)
    viewer = admin.with_token(lab_cluster.mint_token("kube-mgr", "viewer", role="view"))

    async def nodes(identity: str, access: object) -> int:
        async with manager.client("lab", access, identity) as kube:  # type: ignore[arg-type]
            items, _ = await kube.list_all("/api/v1/nodes")
            return len(items)

    results = await asyncio.gather(
        *(nodes("platform", admin) for _ in range(10)),
        nodes("user:viewer", viewer),
        return_exceptions=True,
    )
    assert all(isinstance(n, int) and n >= 3 for n in results[:10])
    assert isinstance(results[10], ClusterForbidden)  # "view" in one namespace: no nodes
    assert len(manager) == 2
    await manager.close_all()
