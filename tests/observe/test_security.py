"""Security summary read from a lab cluster: Pod Security labels, NetworkPolicies, RBAC,
and audit logging from the kube-apiserver's flags (when it runs as a pod)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from taichu.lab.cluster import LabCluster
from tests.observe.helpers import get_data, namespace, registered

pytestmark = pytest.mark.lab

ENFORCE = "pod-security.kubernetes.io/enforce"


def network_policy(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def role(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }


async def test_pod_security_network_policies_and_rbac(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    path = f"/api/v1/clusters/{cid}/security-policies"
    before = await get_data(client, admin_headers, path)
    assert before["rbac_enabled"] is True and before["cluster_roles_count"] > 10
    assert before["pod_security_standard"] in before["pod_security_levels"]
    default = next(n for n in before["namespaces"] if n["namespace"] == "default")
    assert default == {
        "namespace": "default",
        "enforce": "privileged",
        "labelled": False,
        "enforce_version": None,
        "audit": None,
        "warn": None,
    }

    with contextlib.ExitStack() as stack:
        baseline = stack.enter_context(namespace(lab_cluster, {ENFORCE: "baseline"}))
        # Outnumber every other level: restricted becomes predominant.
        extra = max(before["pod_security_levels"].values()) + 1
        strict = [
            stack.enter_context(
                namespace(
                    lab_cluster,
                    {ENFORCE: "restricted", "pod-security.kubernetes.io/warn": "restricted"},
                )
            )
            for _ in range(extra)
        ]
        for i in range(2):
            lab_cluster.api.create(
                f"/apis/networking.k8s.io/v1/namespaces/{baseline}/networkpolicies",
                network_policy(f"deny-{i}"),
            )
        for i in range(3):
            lab_cluster.api.create(
                f"/apis/rbac.authorization.k8s.io/v1/namespaces/{baseline}/roles",
                role(f"reader-{i}"),
            )
        cluster_role = f"obs-{uuid.uuid4().hex[:8]}"
        lab_cluster.api.create(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            {**role(cluster_role), "kind": "ClusterRole"},
        )
        stack.callback(
            lab_cluster.api.delete,
            f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{cluster_role}",
        )

        after = await get_data(client, admin_headers, path)
        assert after["pod_security_standard"] == "restricted"
        levels = after["pod_security_levels"]
        old_levels = before["pod_security_levels"]
        assert levels["restricted"] == old_levels["restricted"] + extra
        assert levels["baseline"] == old_levels["baseline"] + 1
        by_name = {n["namespace"]: n for n in after["namespaces"]}
        assert by_name[baseline]["enforce"] == "baseline" and by_name[baseline]["labelled"]
        assert by_name[strict[0]]["warn"] == "restricted"
        assert after["network_policies_count"] == before["network_policies_count"] + 2
        assert after["network_policies_enabled"] is True
        assert after["roles_count"] == before["roles_count"] + 3
        assert after["cluster_roles_count"] == before["cluster_roles_count"] + 1
        assert after["rbac_roles_count"] == after["roles_count"] + after["cluster_roles_count"]


@contextlib.contextmanager
def apiserver_pod(cluster: LabCluster, command: list[str]) -> Iterator[None]:
    """A kube-apiserver pod in kube-system as kubeadm runs it (a static pod's mirror).
    Each gets its own name and is gone before the next: kwok acts on a deleted pod by
    name, late on a busy machine, and would take a successor of the same name with it."""
    node = cluster.nodes("control-plane")[0]["metadata"]["name"]
    name = f"kube-apiserver-{node}-{uuid.uuid4().hex[:6]}"
    cluster.api.create(
        "/api/v1/namespaces/kube-system/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"component": "kube-apiserver"}},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "kube-apiserver",
                        "image": "registry.k8s.io/kube-apiserver:v1.36.3",
                        "command": command,
                    }
                ],
                "tolerations": [{"operator": "Exists"}],
            },
        },
    )
    try:
        yield
    finally:
        path = f"/api/v1/namespaces/kube-system/pods/{name}"
        cluster.api.request("DELETE", path, params={"gracePeriodSeconds": "0"})
        deadline = time.monotonic() + 30
        while cluster.kubectl(
            "get", "pod", name, "-n", "kube-system", "--ignore-not-found", "-o", "name"
        ).stdout.strip():
            assert time.monotonic() < deadline, f"pod {name} still there after 30s"
            time.sleep(0.2)


async def test_audit_logging_from_apiserver_flags(
    client: httpx.AsyncClient, admin_headers: dict[str, str], lab_cluster: LabCluster
) -> None:
    cid = await registered(client, admin_headers, lab_cluster)
    path = f"/api/v1/clusters/{cid}/security-policies"
    # The lab's API server is a plain process: its flags cannot be seen. Not a guess.
    unseen = await get_data(client, admin_headers, path)
    assert unseen["audit_logging_enabled"] is None
    assert unseen["audit_logging_mode"] == "unknown"
    assert "not visible" in unseen["audit_logging_note"]

    with apiserver_pod(
        lab_cluster,
        [
            "kube-apiserver",
            "--advertise-address=10.0.0.1",
            "--audit-policy-file=/etc/kubernetes/audit-policy.yaml",
            "--audit-log-path=/var/log/kubernetes/audit.log",
            "--audit-log-mode",
            "batch",
        ],
    ):
        seen = await get_data(client, admin_headers, path)
        assert seen["audit_logging_enabled"] is True
        assert seen["audit_logging_mode"] == "batch"
        assert seen["audit_logging_backends"] == ["log"]
        assert seen["audit_logging_note"] is None

    with apiserver_pod(lab_cluster, ["/usr/local/bin/kube-apiserver", "--secure-port=6443"]):
        off = await get_data(client, admin_headers, path)
        assert off["audit_logging_enabled"] is False
        assert off["audit_logging_mode"] == "disabled"
        assert "--audit-policy-file" in off["audit_logging_note"]
