"""Kubernetes objects the installer applies with the admin client (pure; unit-tested).

`api_path(obj)` gives the path server-side apply takes each one to.
"""

from __future__ import annotations

from typing import Any

from taichu.provision.pki import FLANNEL_USER

Obj = dict[str, Any]
SYSTEM = "kube-system"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_TAINT = f"{CONTROL_PLANE_LABEL}:NoSchedule"
_TOLERATE_ALL = [{"operator": "Exists"}]

_PLURALS = {
    "ServiceAccount": ("api/v1", "serviceaccounts"),
    "ConfigMap": ("api/v1", "configmaps"),
    "Service": ("api/v1", "services"),
    "Pod": ("api/v1", "pods"),
    "Namespace": ("api/v1", "namespaces"),
    "Deployment": ("apis/apps/v1", "deployments"),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles"),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings"),
}


def api_path(obj: Obj) -> str:
    prefix, plural = _PLURALS[obj["kind"]]
    meta = obj["metadata"]
    ns = meta.get("namespace")
    where = f"namespaces/{ns}/" if ns else ""
    return f"/{prefix}/{where}{plural}/{meta['name']}"


def _rbac(name: str, rules: list[Obj], subject: Obj) -> list[Obj]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [subject],
        },
    ]


def flannel_rbac() -> list[Obj]:
    """What flanneld with --kube-subnet-mgr needs (its upstream ClusterRole), for the
    user its certificate names."""
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
    ]
    subject = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": FLANNEL_USER}
    return _rbac("taichu:flannel", rules, subject)


def corefile(cluster_domain: str) -> str:
    return (
        ".:53 {\n"
        "    errors\n"
        "    health :8080\n"
        "    ready :8181\n"
        f"    kubernetes {cluster_domain} in-addr.arpa ip6.arpa {{\n"
        "       pods insecure\n"
        "       fallthrough in-addr.arpa ip6.arpa\n"
        "       ttl 30\n"
        "    }\n"
        "    forward . /etc/resolv.conf\n"
        "    cache 30\n"
        "    reload\n"
        "    loadbalance\n"
        "}\n"
    )


def coredns(*, image: str, cluster_dns: str, cluster_domain: str, replicas: int) -> list[Obj]:
    """CoreDNS as kubeadm deploys it, from the bundle's image (never pulled: offline)."""
    labels = {"k8s-app": "kube-dns"}
    meta = {"namespace": SYSTEM, "labels": labels}
    sa: Obj = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "coredns", "namespace": SYSTEM},
    }
    rules = [
        {
            "apiGroups": [""],
            "resources": ["endpoints", "services", "pods", "namespaces"],
            "verbs": ["list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        },
    ]
    subject = {"kind": "ServiceAccount", "name": "coredns", "namespace": SYSTEM}
    config: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "coredns", "namespace": SYSTEM},
        "data": {"Corefile": corefile(cluster_domain)},
    }
    container: Obj = {
        "name": "coredns",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [
            {"containerPort": 53, "name": "dns", "protocol": "UDP"},
            {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": 8080},
            "initialDelaySeconds": 30,
            "failureThreshold": 5,
        },
        "resources": {"requests": {"cpu": "50m", "memory": "50Mi"}, "limits": {"memory": "170Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", **meta},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "coredns",
                    "dnsPolicy": "Default",
                    "priorityClassName": "system-cluster-critical",
                    "tolerations": [
                        {"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"},
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    ],
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": {"matchLabels": labels},
                                        "topologyKey": "kubernetes.io/hostname",
                                    },
                                }
                            ]
                        }
                    },
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                },
            },
        },
    }
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", **meta},
        "spec": {
            "selector": labels,
            "clusterIP": cluster_dns,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        },
    }
    return [sa, *_rbac("system:coredns", rules, subject), config, deployment, service]


VERIFY_NAMESPACE = "taichu-verify"


def verify_pod(*, node_name: str, image: str) -> Obj:
    """A busybox pod pinned to one node, serving its own name on :8080 (pod-to-pod)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"verify-{node_name}"[:63].rstrip("-"),
            "namespace": VERIFY_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "taichu", "taichu/verify": "true"},
        },
        "spec": {
            "nodeName": node_name,
            "tolerations": _TOLERATE_ALL,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "verify",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": [
                        "sh",
                        "-c",
                        # only `sh` and `busybox` are assumed in the image
                        "busybox mkdir -p /tmp/www && busybox hostname > /tmp/www/index.html"
                        " && exec busybox httpd -f -p 8080 -h /tmp/www",
                    ],
                    "ports": [{"containerPort": 8080}],
                }
            ],
        },
    }


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
