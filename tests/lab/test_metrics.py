"""Optional metrics-server: `kubectl top` from kwok's simulated usage."""

from __future__ import annotations

import json
import time

import pytest

from taichu.lab.components import Settings
from taichu.lab.metrics import USAGE_CPU, USAGE_MEMORY
from taichu.lab.pytest_fixtures import ClusterFactory

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_metrics_server_reports_simulated_usage(lab_cluster_factory: ClusterFactory) -> None:
    cluster = lab_cluster_factory(workers=2, settings=Settings(metrics_server=True))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "busy",
            "namespace": "default",
            "annotations": {USAGE_CPU: "250m", USAGE_MEMORY: "300Mi"},
        },
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/busy", "--timeout=60s")
    # metrics-server scrapes every 10 s (its minimum) and needs two scrapes for a CPU rate.
    deadline = time.monotonic() + 120
    while True:
        got = cluster.api.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")
        usage = [
            c["usage"]
            for p in got["items"]
            if p["metadata"]["name"] == "busy"
            for c in p["containers"]
        ]
        if usage:
            break
        assert time.monotonic() < deadline, "no pod metrics after 120 s"
        time.sleep(2)
    assert usage[0]["memory"] == "300Mi"
    assert usage[0]["cpu"].endswith("n") and 200e6 < int(usage[0]["cpu"][:-1]) < 300e6
    top = cluster.kubectl("top", "nodes", "--no-headers").stdout.splitlines()
    assert {line.split()[0] for line in top} >= {"worker-1", "worker-2"}
