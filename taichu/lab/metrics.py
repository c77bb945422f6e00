"""Optional metrics-server (Settings(metrics_server=True)): `kubectl top` and metrics.k8s.io
from kwok's simulated usage.

kwok serves every node's kubelet resource metrics on one HTTPS port, at
/metrics/nodes/<node>/metrics/resource; each node carries that path in the annotation
metrics-server reads (metrics.k8s.io/resource-metrics-path), the port in its status, and an
InternalDNS address `localhost`. Pod usage comes from the pod annotations below (kwok's
usage-from-annotation config; 1m CPU and 1Mi memory when absent).

The API server reaches metrics-server through an ExternalName Service `localhost`: the
Endpoints of a normal Service may not hold loopback addresses.
"""

from __future__ import annotations

import base64
from typing import Any

from taichu.lab.binaries import LabBinaries
from taichu.lab.components import ALLOW_PATHS, Layout
from taichu.lab.kubeapi import KubeApi

USAGE_CPU = "kwok.x-k8s.io/usage-cpu"
USAGE_MEMORY = "kwok.x-k8s.io/usage-memory"
PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"


def node_extras(name: str) -> tuple[dict[str, str], dict[str, str]]:
    """Annotation and address a node needs to be scraped through kwok."""
    return (
        {PATH_ANNOTATION: f"/metrics/nodes/{name}/metrics/resource"},
        {"type": "InternalDNS", "address": "localhost"},
    )


def kwok_args(bins: LabBinaries, layout: Layout, port: int) -> list[str]:
    p = layout.pki_file
    return [
        f"--server-address=127.0.0.1:{port}",
        f"--node-port={port}",
        f"--tls-cert-file={p('kwok-serving.crt')}",
        f"--tls-private-key-file={p('kwok-serving.key')}",
        *(f"--config={f}" for f in bins.metrics_files),
    ]


def metrics_server_argv(bins: LabBinaries, layout: Layout, port: int) -> list[str]:
    p = layout.pki_file
    kubeconfig = layout.kubeconfig("metrics-server")
    return [
        bins.bin("metrics-server"),
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={p('metrics-server.crt')}",
        f"--tls-private-key-file={p('metrics-server.key')}",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        ALLOW_PATHS,
        f"--kubelet-certificate-authority={p('ca.crt')}",
        "--kubelet-use-node-status-port",
        "--kubelet-preferred-address-types=InternalDNS",
        "--metric-resolution=10s",
        "--kubelet-request-timeout=5s",  # must stay below the resolution
    ]


def register(api: KubeApi, port: int, ca_pem: bytes) -> None:
    """Service and APIService that put metrics-server behind the API server."""
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": "kube-system"},
        "spec": {
            "type": "ExternalName",
            "externalName": "localhost",
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
    }
    api.create("/api/v1/namespaces/kube-system/services", service, exist_ok=True)
    apiservice: dict[str, Any] = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "service": {"namespace": "kube-system", "name": "metrics-server", "port": port},
            "caBundle": base64.b64encode(ca_pem).decode(),
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }
    api.create("/apis/apiregistration.k8s.io/v1/apiservices", apiservice, exist_ok=True)


def available(api: KubeApi) -> bool:
    status = api.get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io")
    conditions = status.get("status", {}).get("conditions") or []
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)
