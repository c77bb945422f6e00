"""Node usage from metrics.k8s.io when the cluster serves it (lab metrics-server over
kwok's simulated usage)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from taichu.lab.components import Settings as LabSettings
from taichu.lab.metrics import USAGE_CPU, USAGE_MEMORY
from tests.clusters.helpers import wait_for
from tests.observe.helpers import get_data, registered

pytestmark = [pytest.mark.lab, pytest.mark.slow]


async def test_usage_percent_from_the_metrics_api(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster_factory: Any
) -> None:
    lab: LabCluster = lab_cluster_factory(workers=1, settings=LabSettings(metrics_server=True))
    worker = lab.nodes("worker")[0]["metadata"]["name"]
    # 2 of the worker's 8 cores and 4 of its 32 GiB: about 25 % and 12.5 %.
    lab.api.create(
        "/api/v1/namespaces/default/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "busy", "annotations": {USAGE_CPU: "2", USAGE_MEMORY: "4Gi"}},
            "spec": {
                "nodeName": worker,
                "containers": [{"name": "main", "image": "registry.local/app:1"}],
            },
        },
    )
    cid = await registered(client, admin_headers, lab)
    path = f"/api/v1/clusters/{cid}/nodes"

    async def fetch() -> dict[str, Any]:
        return await get_data(client, admin_headers, path)

    def busy(data: dict[str, Any]) -> bool:
        node = next(n for n in data["nodes"] if n["name"] == worker)
        return (node["cpu_usage_percent"] or 0) > 20

    data = await wait_for(fetch, busy, timeout=90, interval=1.0)
    assert data["usage_available"] is True and data["usage_note"] is None
    node = next(n for n in data["nodes"] if n["name"] == worker)
    assert 24 <= node["cpu_usage_percent"] <= 27
    assert 12 <= node["memory_usage_percent"] <= 13.5
    detail = await get_data(client, admin_headers, f"{path}/{worker}")
    assert detail["usage_available"] is True and detail["cpu_usage_percent"] is not None
