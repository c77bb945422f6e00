"""Restricted identities: a ServiceAccount, its RBAC, and a bearer token for it."""

from __future__ import annotations

import base64
import time
from typing import Any

from taichu.lab.kubeapi import KubeApi
from taichu.lab.procs import LabError

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def ensure_namespace(api: KubeApi, namespace: str) -> None:
    api.create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        exist_ok=True,
    )


def _bind(
    api: KubeApi,
    namespace: str,
    name: str,
    *,
    rules: list[dict[str, Any]] | None,
    role: str | None,
    cluster_wide: bool,
) -> None:
    subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    if cluster_wide:
        # Cluster-scoped objects are shared by every namespace: qualify the name.
        binding_name = f"{namespace}:{name}"
        if rules is not None:
            api.create(f"{RBAC}/clusterroles", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": binding_name}, "rules": rules,
            }, exist_ok=True)
        api.create(f"{RBAC}/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": binding_name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role or binding_name},
            "subjects": [subject],
        }, exist_ok=True)
        return
    if rules is not None:
        api.create(f"{RBAC}/namespaces/{namespace}/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace}, "rules": rules,
        }, exist_ok=True)
    api.create(f"{RBAC}/namespaces/{namespace}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        # A RoleBinding may grant a ClusterRole (view, edit, admin) within one namespace.
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole" if role else "Role", "name": role or name},
        "subjects": [subject],
    }, exist_ok=True)


def mint_token(
    api: KubeApi,
    namespace: str,
    name: str,
    *,
    rules: list[dict[str, Any]] | None = None,
    role: str | None = None,
    cluster_wide: bool = False,
    expiration_seconds: int = 86400,
    long_lived: bool = False,
) -> str:
    """Create ServiceAccount `namespace/name` with the given rights and return a token.

    `rules` become a Role (ClusterRole if `cluster_wide`); `role` names an existing
    ClusterRole (e.g. "view", "edit", "admin") bound in the namespace (or cluster-wide).
    With neither, the account can do nothing beyond discovery. Tokens come from the
    TokenRequest API; `long_lived` instead creates a service-account-token Secret, which
    never expires and survives API server restarts the same way.
    """
    if rules is not None and role is not None:
        raise ValueError("give either rules or role, not both")
    ensure_namespace(api, namespace)
    api.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", {
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace},
    }, exist_ok=True)
    if rules is not None or role is not None:
        _bind(api, namespace, name, rules=rules, role=role, cluster_wide=cluster_wide)
    if not long_lived:
        resp = api.create(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds},
        })
        return str(resp["status"]["token"])
    secret = f"{name}-token"
    api.create(f"/api/v1/namespaces/{namespace}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": secret, "namespace": namespace,
                     "annotations": {"kubernetes.io/service-account.name": name}},
    }, exist_ok=True)
    # The controller manager's token controller fills the secret in asynchronously.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = api.get(f"/api/v1/namespaces/{namespace}/secrets/{secret}").get("data") or {}
        if data.get("token"):
            return base64.b64decode(data["token"]).decode()
        time.sleep(0.2)
    raise LabError(f"token controller did not fill secret {namespace}/{secret} within 30s")
