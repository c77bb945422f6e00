"""Pure logic of the observe domain: slimming, accounting, severities, flags, merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taichu.clusters.models import PlatformEvent
from taichu.errors import Invalid
from taichu.observe import autoscaling, events, nodes, security
from taichu.observe.reads import argv_tokens, parse_flags
from taichu.observe.slim import pod_amount, slim_event, slim_node, slim_pod
from taichu.observe.stores import NodeStore, PodStore


def container(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"name": "c", "resources": {"requests": requests, "limits": requests}, **extra}


def test_pod_requests_follow_the_scheduler() -> None:
    spec = {
        "containers": [container("250m", "64Mi"), container("250m", "64Mi")],
        "initContainers": [
            container("2", "1Gi"),  # runs alone before the app: a peak, not a sum
            container("100m", "32Mi", restartPolicy="Always"),  # a sidecar: adds up
        ],
        "overhead": {"cpu": "50m"},
    }
    assert pod_amount(spec, "requests", "cpu") == pytest.approx(2.05)
    assert pod_amount(spec, "requests", "memory") == 2**30
    spec["initContainers"][0] = container("100m", "8Mi")
    assert pod_amount(spec, "requests", "cpu") == pytest.approx(0.65)
    assert pod_amount(spec, "requests", "memory") == 160 * 2**20
    assert pod_amount({"containers": [{"name": "bare"}]}, "requests", "cpu") == 0


def pod(
    name: str, node: str | None, phase: str, cpu: str = "500m", uid: str | None = None, **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}", **meta},
        "spec": {"nodeName": node, "containers": [container(cpu, "1Gi")]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"ready": True, "restartCount": 2}],
        },
    }


def test_pod_store_keeps_per_node_totals() -> None:
    store = PodStore()
    store.upsert(pod("a", "n1", "Running"))
    store.upsert(pod("b", "n1", "Running"))
    store.upsert(pod("c", None, "Pending"))
    store.upsert(pod("d", "n1", "Succeeded"))
    assert store.node_totals["n1"].pods == 2
    assert store.node_totals["n1"].cpu_requests == pytest.approx(1.0)
    store.upsert(pod("c", "n2", "Running"))  # bound later
    store.upsert(pod("a", "n1", "Failed"))  # finished: off the node
    assert {n: t.pods for n, t in store.node_totals.items()} == {"n1": 1, "n2": 1}
    store.remove(pod("b", "n1", "Running"))
    assert "n1" not in store.node_totals
    assert [p.name for p in store.in_namespace("ns")] == ["a", "c", "d"]
    slim = store.by_uid["uid-c"]
    assert slim.ready and slim.restarts == 2 and slim.status == "Running"
    deleting = slim_pod(pod("e", "n1", "Running", deletionTimestamp="2025-01-01T00:00:00Z"))
    assert deleting.status == "Terminating"


def node(name: str, ready: str = "True", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": labels,
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "status": {
            "capacity": {"cpu": "3500m", "memory": "8Gi", "pods": "110"},
            "conditions": [
                {"type": "Ready", "status": ready, "lastHeartbeatTime": "2025-01-02T00:00:00Z"}
            ],
        },
    }


def test_node_roles_statuses_and_counts() -> None:
    store = NodeStore()
    store.upsert(node("b", **{"node-role.kubernetes.io/master": ""}))
    store.upsert(node("a", "False"))
    store.upsert(node("c", "Unknown"))
    assert store.names() == ["a", "b", "c"]
    assert [store.by_name[n].role for n in "abc"] == ["worker", "control-plane", "worker"]
    assert [store.by_name[n].status for n in "abc"] == ["not_ready", "ready", "unknown"]
    assert (store.control_plane, store.ready) == (1, 1)
    store.upsert(node("a"))
    assert store.ready == 2
    store.remove(node("b"))
    assert (store.control_plane, store.ready, store.names()) == (0, 1, ["a", "c"])
    slim = slim_node(node("x"))
    assert slim.cpu_capacity == 3.5 and slim.updated_at == datetime(2025, 1, 2, tzinfo=UTC)
    assert nodes.parse_type("master") == "control-plane"
    assert nodes.parse_status("NotReady") == "not_ready"
    with pytest.raises(Invalid):
        nodes.parse_type("gpu")


def test_event_severity_and_fields() -> None:
    raw = {
        "metadata": {"uid": "u", "namespace": "ns", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "OOMKilling",
        "type": "Warning",
        "message": "m",
        "reportingComponent": "kubelet",
        "series": {"count": 7, "lastObservedTime": "2025-01-01T00:05:00.123456Z"},
        "eventTime": "2025-01-01T00:00:00.000001Z",
    }
    event = slim_event(raw)
    assert (event.severity, event.kind, event.component, event.count) == (
        "error",
        "Pod",
        "kubelet",
        7,
    )
    assert event.last_seen is not None and event.last_seen.minute == 5
    assert slim_event({**raw, "reason": "Unhealthy"}).severity == "warning"
    assert slim_event({**raw, "reason": "Started", "type": "Normal"}).severity == "info"


def test_merge_is_newest_first_with_summary() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    cluster = sorted(
        (
            slim_event(
                {
                    "metadata": {"uid": f"k{i}"},
                    "type": "Warning" if i % 2 else "Normal",
                    "reason": "x",
                    "lastTimestamp": (t0 + timedelta(minutes=i)).isoformat(),
                }
            )
            for i in range(5)
        ),
        key=lambda e: e.last_seen,
        reverse=True,
    )
    platform = [
        PlatformEvent(
            id="p1",
            event_type="Cluster",
            reason="Disconnected",
            severity="critical",
            component="health-monitor",
            message="down",
            count=1,
            first_seen=t0,
            last_seen=t0 + timedelta(minutes=2, seconds=30),
            created_at=t0,
        )
    ]
    data = events.merge_events(cluster, platform, severity=None, since=None, offset=0, limit=10)
    assert [e["id"] for e in data["events"]] == ["k4", "k3", "p1", "k2", "k1", "k0"]
    assert data["summary"] == {
        "info_count": 3,
        "warning_count": 2,
        "error_count": 0,
        "critical_count": 1,
    }
    later = events.merge_events(
        cluster, platform, severity="warning", since=t0 + timedelta(minutes=2), offset=0, limit=1
    )
    assert [e["id"] for e in later["events"]] == ["k3"] and later["total"] == 1
    assert later["summary"]["info_count"] == 2  # k4, k2: the summary ignores `severity`


def test_flags_security_and_autoscaler_parsing() -> None:
    tokens = argv_tokens(
        {"command": ["/bin/sh", "-c", "kube-apiserver --a=1 --b 2 --c"], "args": ["--d=x=y"]}
    )
    assert tokens == ["/bin/sh", "-c", "kube-apiserver", "--a=1", "--b", "2", "--c", "--d=x=y"]
    assert parse_flags(tokens) == {"a": ["1"], "b": ["2"], "c": [""], "d": ["x=y"]}
    assert security.predominant(["baseline", "restricted"]) == "baseline"
    assert security.predominant(["restricted", "restricted", "privileged"]) == "restricted"
    webhook = security.audit_from_flags(
        {"audit-policy-file": ["p"], "audit-webhook-config-file": ["w"]}
    )
    assert (webhook["audit_logging_mode"], webhook["audit_logging_backends"]) == (
        "batch",
        ["webhook"],
    )
    found = autoscaling.autoscaler_from(
        {
            "metadata": {"name": "ca", "namespace": "kube-system"},
            "spec": {
                "replicas": 0,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.30.0",
                                "args": ["--nodes=2:4:a", "--nodes=bad", "--nodes=1:x:b"],
                            }
                        ]
                    }
                },
            },
        }
    )
    assert found is not None and found["replicas"] == 0
    assert found["node_groups"] == [{"name": "a", "min_nodes": 2, "max_nodes": 4}]
    assert (
        autoscaling.autoscaler_from(
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "image": "nginx",
                                    "command": ["nginx", "--cluster-autoscaler-like"],
                                }
                            ]
                        }
                    }
                }
            }
        )
        is None
    )
