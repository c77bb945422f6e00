"""What is stripped at backup, skipped or rewritten at restore, and in which order."""

from __future__ import annotations

import json
from typing import Any

from taichu.backups import rules


def _service(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "status": {"loadBalancer": {}},
        "metadata": {
            "name": "s",
            "namespace": "a",
            "uid": "u",
            "resourceVersion": "9",
            "creationTimestamp": "t",
            "managedFields": [{}],
            "generation": 2,
        },
        "spec": spec,
    }


def test_strip_drops_server_state_and_allocations() -> None:
    applied = {
        "spec": {"ports": [{"name": "fixed", "nodePort": 30080}], "healthCheckNodePort": 31000}
    }
    svc = _service(
        clusterIP="10.0.0.7",
        clusterIPs=["10.0.0.7"],
        healthCheckNodePort=31000,
        ports=[
            {"name": "fixed", "port": 80, "nodePort": 30080},
            {"name": "auto", "port": 81, "nodePort": 31234},
        ],
    )
    svc["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)
    }
    out = rules.strip(svc)
    assert "status" not in out and set(out["metadata"]) == {"name", "namespace", "annotations"}
    assert "clusterIP" not in out["spec"] and "clusterIPs" not in out["spec"]
    assert out["spec"]["ports"] == [
        {"name": "fixed", "port": 80, "nodePort": 30080},
        {"name": "auto", "port": 81},
    ]
    assert out["spec"]["healthCheckNodePort"] == 31000  # asked for explicitly
    headless = rules.strip(
        _service(clusterIP="None", clusterIPs=["None"], healthCheckNodePort=31001)
    )
    assert "healthCheckNodePort" not in headless["spec"]  # assigned, not asked for
    assert headless["spec"]["clusterIP"] == "None"


def test_strip_survives_an_odd_last_applied_annotation() -> None:
    """What a cluster says was last applied is its text: JSON nested deeper than Python's
    decoder recurses (RecursionError, not a ValueError) or a value that is not a string
    means nothing was asked for, not a failed backup."""
    for raw in ("[" * 20_000 + "]" * 20_000, 5, ["x"]):
        svc = _service(ports=[{"name": "auto", "port": 81, "nodePort": 31234}])
        svc["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": raw}
        assert rules.strip(svc)["spec"]["ports"] == [{"name": "auto", "port": 81}]


def test_strip_drops_node_bindings_and_owner_uids() -> None:
    pod = rules.strip(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p",
                "ownerReferences": [
                    {"kind": "ReplicaSet", "name": "r", "uid": "x", "controller": True}
                ],
            },
            "spec": {"nodeName": "worker-1", "containers": []},
        }
    )
    assert "nodeName" not in pod["spec"]
    assert pod["metadata"]["ownerReferences"] == [
        {"kind": "ReplicaSet", "name": "r", "controller": True}
    ]
    pvc = rules.strip(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": "c",
                "annotations": {
                    "volume.kubernetes.io/selected-node": "worker-1",
                    "pv.kubernetes.io/bind-completed": "yes",
                    "keep": "1",
                },
            },
        }
    )
    assert pvc["metadata"]["annotations"] == {"keep": "1"}
    pv = rules.strip(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "v"},
            "spec": {
                "claimRef": {"name": "c", "namespace": "a", "uid": "u", "resourceVersion": "1"}
            },
        }
    )
    assert pv["spec"]["claimRef"] == {"name": "c", "namespace": "a"}


def test_skip_reasons() -> None:
    owners = {("apps", "ReplicaSet", "a"), ("apps", "Deployment", "a")}
    selectors = {("a", "web")}

    def reason(obj: dict[str, Any]) -> str | None:
        return rules.skip_reason(obj, owners, selectors)

    owned = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "a",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "controller": True}
            ],
        },
    }
    assert "owned by ReplicaSet/r" in (reason(owned) or "")
    orphan_owner = json.loads(json.dumps(owned))
    orphan_owner["metadata"]["namespace"] = "b"  # its owner is not in the backup there
    assert reason(orphan_owner) is None
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": "a"},
    }
    assert reason(cm) is not None
    assert (
        reason(
            {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "a"}}
        )
        is not None
    )
    assert (
        reason(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "manual", "namespace": "a"},
            }
        )
        is None
    )
    assert (
        reason(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default"},
            }
        )
        is not None
    )
    assert (
        reason(
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {
                    "name": "v1.apps",
                    "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"},
                },
            }
        )
        is not None
    )
    assert (
        reason(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": "s",
                    "namespace": "a",
                    "labels": {"app.kubernetes.io/managed-by": "taichu"},
                },
            }
        )
        is not None
    )


def test_transform_maps_namespaces_everywhere_they_appear() -> None:
    mapping = {"a": "x"}
    binding = rules.transform(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "r", "namespace": "a"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "app", "namespace": "a"},
                {"kind": "User", "name": "bob"},
            ],
        },
        mapping,
        "rid",
    )
    assert binding["metadata"]["namespace"] == "x"
    assert binding["subjects"][0]["namespace"] == "x"
    assert binding["metadata"]["annotations"] == {rules.RESTORED_BY: "rid"}
    ns = rules.transform(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "a", "labels": {"kubernetes.io/metadata.name": "a", "team": "t"}},
        },
        mapping,
        "rid",
    )
    assert ns["metadata"]["name"] == "x" and ns["metadata"]["labels"] == {"team": "t"}
    pv = rules.transform(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "v"},
            "spec": {"claimRef": {"name": "c", "namespace": "a"}},
        },
        mapping,
        "rid",
    )
    assert pv["spec"]["claimRef"]["namespace"] == "x"


def test_transform_lets_the_cluster_regenerate_what_it_owns() -> None:
    token = rules.transform(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": "t",
                "namespace": "a",
                "annotations": {
                    "kubernetes.io/service-account.name": "app",
                    "kubernetes.io/service-account.uid": "old",
                },
            },
            "data": {"token": "b2xk"},
        },
        {},
        "rid",
    )
    assert "data" not in token
    assert "kubernetes.io/service-account.uid" not in token["metadata"]["annotations"]
    job = rules.transform(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "j",
                "namespace": "a",
                "ownerReferences": [{"kind": "CronJob", "name": "c"}],
            },
            "spec": {
                "selector": {"matchLabels": {"controller-uid": "u"}},
                "template": {
                    "metadata": {
                        "labels": {
                            "controller-uid": "u",
                            "job-name": "j",
                            "batch.kubernetes.io/controller-uid": "u",
                        }
                    }
                },
            },
        },
        {},
        "rid",
    )
    assert "selector" not in job["spec"] and "ownerReferences" not in job["metadata"]
    assert job["spec"]["template"]["metadata"]["labels"] == {"job-name": "j"}


def test_phases_follow_dependencies() -> None:
    order = [
        rules.phase_of(g, r, custom)
        for g, r, custom in [
            ("apiextensions.k8s.io", "customresourcedefinitions", False),
            ("", "persistentvolumeclaims", False),
            ("rbac.authorization.k8s.io", "roles", False),
            ("", "secrets", False),
            ("", "configmaps", False),
            ("", "limitranges", False),
            ("apps", "deployments", False),
            ("test.taichu.io", "widgets", True),
            ("admissionregistration.k8s.io", "validatingwebhookconfigurations", False),
        ]
    ]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert rules.order_in_phase("", "services") < rules.order_in_phase("apps", "deployments")
    assert not rules.backed_up("", "events", frozenset({"list", "create"}))
    assert not rules.backed_up("", "nodes", frozenset({"list", "create"}))
    assert not rules.backed_up("metrics.k8s.io", "pods", frozenset({"list", "create"}))
    assert rules.backed_up("apps", "deployments", frozenset({"list", "create"}))
