"""The objects the round-trip tests back up and restore: namespaces with a Deployment,
Services, a ConfigMap, a Secret, RBAC, and a custom resource of a CRD."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from typing import Any

from taichu.kube import KubeClient, parse_kubeconfig
from taichu.lab.cluster import LabCluster

CRD_NAME = "widgets.test.taichu.io"
KINDS = (
    "deployments,services,configmaps,secrets,serviceaccounts,roles,rolebindings,"
    "widgets.test.taichu.io"
)

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME, "labels": {"suite": "backups"}},
    "spec": {
        "group": "test.taichu.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer"},
                                    "color": {"type": "string"},
                                    "tags": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def namespace_objects(ns: str) -> list[dict[str, Any]]:
    labels = {"app": "web", "tier": ns}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": {"team": "platform"},
                "annotations": {"owner": "ops@example.com"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "app", "namespace": ns},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader", "namespace": ns},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps", "secrets"],
                    "verbs": ["get", "list"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns},
            "data": {"app.properties": "color=blue\nsize=3\n", "mode": ns},
            "binaryData": {"blob": base64.b64encode(bytes(range(64))).decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": "creds", "namespace": ns, "labels": {"secret": "yes"}},
            "data": {"password": base64.b64encode(f"s3cr3t-{ns}".encode()).decode()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "app",
                        "containers": [
                            {
                                "name": "web",
                                "image": "nginx:1.27",
                                "env": [{"name": "MODE", "value": ns}],
                                "ports": [{"containerPort": 80}],
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 80}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-np", "namespace": ns},
            "spec": {
                "type": "NodePort",
                "selector": labels,
                "ports": [{"name": "http", "port": 8080, "targetPort": 80}],
            },
        },
        {
            "apiVersion": "test.taichu.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": ns, "labels": {"color": "red"}},
            "spec": {"size": 7, "color": "red", "tags": ["a", ns]},
        },
    ]


def apply(lab: LabCluster, objects: list[dict[str, Any]]) -> None:
    lab.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )


def install(lab: LabCluster, namespaces: list[str]) -> None:
    apply(lab, [CRD])
    lab.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    for ns in namespaces:
        apply(lab, namespace_objects(ns))
    for ns in namespaces:
        settle(lab, ns)


def settle(lab: LabCluster, ns: str) -> None:
    """Wait for what the controllers add on their own time (the namespace's CA ConfigMap
    and default ServiceAccount, the Deployment's ReplicaSet), so a backup taken next
    holds the same objects on a busy machine as on an idle one."""
    for kind_name in ("configmap/kube-root-ca.crt", "serviceaccount/default"):
        lab.kubectl("wait", "--for=create", kind_name, "-n", ns, "--timeout=60s")
    lab.kubectl(
        "wait",
        "deployment/web",
        "-n",
        ns,
        "--timeout=60s",
        "--for=jsonpath={.status.observedGeneration}=1",
    )


def wait_gone(lab: LabCluster, *args: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while lab.kubectl("get", *args, "--ignore-not-found", "-o", "name").stdout.strip():
        assert time.monotonic() < deadline, f"{args} still there after {timeout}s"
        time.sleep(0.5)


async def fill(
    lab: LabCluster,
    namespaces: list[str],
    per_namespace: int,
    payload_bytes: int = 0,
    concurrency: int = 32,
) -> None:
    """Many ConfigMaps, fast (in parallel through the platform's client); with
    `payload_bytes`, each carries that much incompressible data."""
    kube = KubeClient(
        parse_kubeconfig(lab.kubeconfig), request_timeout=60, max_connections=concurrency
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(ns: str, i: int) -> None:
        data = {"index": str(i)}
        if payload_bytes:
            data["blob"] = base64.b64encode(os.urandom(payload_bytes)).decode()
        async with gate:
            await kube.create(
                f"/api/v1/namespaces/{ns}/configmaps",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"cm-{i:05d}", "namespace": ns},
                    "data": data,
                },
            )

    try:
        for ns in namespaces:
            await kube.create(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        await asyncio.gather(*(one(ns, i) for ns in namespaces for i in range(per_namespace)))
    finally:
        await kube.close()
