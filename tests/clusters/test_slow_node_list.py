"""A cluster whose API server answers but whose node list is slow — a big cluster busy
creating thousands of nodes on a loaded machine (loaded run 3: registering the 5,000-node
lab cluster was refused, "the probe took longer than 10s") — is registered, shown
`unhealthy` with why, and keeps the node totals it had until a list comes in time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from taichu.config import KubeSettings
from taichu.lab.cluster import LabCluster
from tests.clusters.helpers import cluster_detail, register, wait_for
from tests.conftest import ADMIN_PASSWORD, bearer, login
from tests.support.hostile_cluster import HostileCluster, json_answer, node, node_list, slow_answer

SETTING = "cluster_node_list_timeout"


@pytest.fixture
def hostile() -> Iterator[HostileCluster]:
    with HostileCluster() as cluster:
        yield cluster


@pytest.mark.lab
async def test_a_reachable_cluster_whose_node_list_is_too_slow_is_registered_unhealthy(
    start_app: Any, make_settings: Any, lab_cluster: LabCluster
) -> None:
    # Every node list of the real API server is "too slow" for a bound of a microsecond;
    # /readyz and /version keep the ordinary bound and answer.
    client = await start_app(make_settings(cluster_node_list_timeout=1e-6))
    headers = bearer(await login(client, "admin", ADMIN_PASSWORD))
    response = await register(client, headers, "busy", lab_cluster.kubeconfig)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "unhealthy"
    detail = await cluster_detail(client, headers, response.json()["data"]["id"])
    assert detail["status"] == "unhealthy"
    assert detail["version"] == "v1.36.3"
    assert detail["last_heartbeat_at"] is not None
    assert "node list took longer than 1e-06s" in detail["last_probe_error"]
    assert SETTING in detail["last_probe_error"]
    assert detail["node_count"] == 0  # not read yet


async def test_a_slow_node_list_keeps_the_last_totals_until_one_comes_in_time(
    start_app: Any, make_settings: Any, hostile: HostileCluster
) -> None:
    # A whole node list may take longer than one ordinary request (1 s here): the node-list
    # bound is the one that holds.
    client = await start_app(
        make_settings(
            health_interval=0.5,
            cluster_node_list_timeout=3.0,
            kube=KubeSettings(request_timeout_seconds=1.0),
        )
    )
    headers = bearer(await login(client, "admin", ADMIN_PASSWORD))
    two_nodes = node_list(node("n1"), node("n2"))
    hostile.answer("/api/v1/nodes", json_answer(two_nodes))
    response = await register(client, headers, "trickling", hostile.kubeconfig())
    assert response.status_code == 200, response.text
    cluster_id = response.json()["data"]["id"]
    assert (await cluster_detail(client, headers, cluster_id))["node_count"] == 2

    # The list now trickles in over minutes: each probe gives up on it after 3 s.
    hostile.answer("/api/v1/nodes", slow_answer(two_nodes, seconds_per_byte=0.5))
    slow = await wait_for(
        lambda: cluster_detail(client, headers, cluster_id),
        lambda d: d["status"] == "unhealthy",
        timeout=60,
    )
    assert f"node list took longer than 3s (setting {SETTING})" in slow["last_probe_error"]
    assert slow["node_count"] == 2 and slow["total_cpu_cores"] == 8
    assert slow["version"] == "v1.31.0"

    hostile.answer("/api/v1/nodes", json_answer(node_list(node("n1"))))
    healed = await wait_for(
        lambda: cluster_detail(client, headers, cluster_id),
        lambda d: d["status"] == "healthy",
        timeout=60,
    )
    assert healed["node_count"] == 1 and healed["last_probe_error"] is None
