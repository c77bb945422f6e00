"""Restricted identities: a ServiceAccount, its RBAC, and a bearer token for it."""

from __future__ import annotations

import base64
import time
from typing import Any

from taichu.lab.kubeapi import ApiError, KubeApi
from taichu.lab.procs import LabError

RBAC = "/apis/rbac.authorization.k8s.io/v1"
REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
# How long a new Role/RoleBinding may take to reach the API server's RBAC authorizer
# (it learns of them through an informer) before mint_token gives up.
GRANT_TIMEOUT = 30.0


def ensure_namespace(api: KubeApi, namespace: str) -> None:
    api.create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        exist_ok=True,
    )


def _put_role(api: KubeApi, collection: str, role: dict[str, Any]) -> None:
    """Create the role, or give an existing one of that name these rules: a second mint of
    the same account (another test on the same cluster) gets the rights it asks for, not
    whatever the first one asked for."""
    if api.create(collection, role, exist_ok=True):
        return
    # RBAC objects allow an unconditional update (no resourceVersion needed).
    api.request("PUT", f"{collection}/{role['metadata']['name']}", role)


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
            _put_role(
                api,
                f"{RBAC}/clusterroles",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": binding_name},
                    "rules": rules,
                },
            )
        api.create(
            f"{RBAC}/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": binding_name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role or binding_name,
                },
                "subjects": [subject],
            },
            exist_ok=True,
        )
        return
    if rules is not None:
        _put_role(
            api,
            f"{RBAC}/namespaces/{namespace}/roles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": rules,
            },
        )
    api.create(
        f"{RBAC}/namespaces/{namespace}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            # A RoleBinding may grant a ClusterRole (view, edit, admin) within one namespace.
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole" if role else "Role",
                "name": role or name,
            },
            "subjects": [subject],
        },
        exist_ok=True,
    )


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
    never expires and survives API server restarts the same way. Returns once the API
    server's authorizer applies the new rights, so the token works as granted at once.
    """
    if rules is not None and role is not None:
        raise ValueError("give either rules or role, not both")
    ensure_namespace(api, namespace)
    api.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        },
        exist_ok=True,
    )
    if rules is not None or role is not None:
        _bind(api, namespace, name, rules=rules, role=role, cluster_wide=cluster_wide)
    if not long_lived:
        resp = api.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        token = str(resp["status"]["token"])
    else:
        token = _long_lived_token(api, namespace, name)
    if rules is not None or role is not None:
        _wait_granted(api, namespace, name, rules=rules, role=role, cluster_wide=cluster_wide)
    return token


def _long_lived_token(api: KubeApi, namespace: str, name: str) -> str:
    secret = f"{name}-token"
    api.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": secret,
                "namespace": namespace,
                "annotations": {"kubernetes.io/service-account.name": name},
            },
        },
        exist_ok=True,
    )
    # The controller manager's token controller fills the secret in asynchronously.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = api.get(f"/api/v1/namespaces/{namespace}/secrets/{secret}").get("data") or {}
        if data.get("token"):
            return base64.b64decode(data["token"]).decode()
        time.sleep(0.2)
    raise LabError(f"token controller did not fill secret {namespace}/{secret} within 30s")


def _first_grant(rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Resource attributes of a request the first resource rule allows, or None."""
    for rule in rules:
        resources, verbs = rule.get("resources") or [], rule.get("verbs") or []
        if not resources or not verbs:
            continue  # a nonResourceURLs rule
        resource, _, subresource = resources[0].partition("/")
        attributes = {
            "verb": verbs[0],
            "group": (rule.get("apiGroups") or [""])[0],
            "resource": resource,
        }
        if subresource:
            attributes["subresource"] = subresource
        if rule.get("resourceNames"):
            attributes["name"] = rule["resourceNames"][0]
        return attributes
    return None


def _wait_granted(
    api: KubeApi,
    namespace: str,
    name: str,
    *,
    rules: list[dict[str, Any]] | None,
    role: str | None,
    cluster_wide: bool,
) -> None:
    """Return once the API server's authorizer applies the new binding.

    The RBAC authorizer sees Roles and bindings through an informer, so a token used at
    once may be refused for a moment. Asks (as admin) a SubjectAccessReview for the
    account and the first thing its rules allow until the answer is yes. For `role`, the
    ClusterRole's rules are read each time: an aggregated one (view, edit, admin) gets
    them from the controller manager, possibly later than this call.
    """
    user = f"system:serviceaccount:{namespace}:{name}"
    groups = [
        "system:serviceaccounts",
        f"system:serviceaccounts:{namespace}",
        "system:authenticated",
    ]
    deadline = time.monotonic() + GRANT_TIMEOUT
    while True:
        wanted = rules
        aggregated = False
        if role is not None:
            try:
                cluster_role = api.get(f"{RBAC}/clusterroles/{role}")
            except ApiError as e:
                if e.status != 404:
                    raise
                raise LabError(
                    f"ClusterRole {role!r} does not exist: the token would have no rights"
                ) from e
            wanted = cluster_role.get("rules") or []
            aggregated = bool(cluster_role.get("aggregationRule"))
        attributes = _first_grant(wanted or [])
        if attributes is None and not aggregated:
            return  # nothing a resource request could check
        if attributes is not None:
            if not cluster_wide:
                attributes["namespace"] = namespace
            review = api.create(
                REVIEWS,
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": {"user": user, "groups": groups, "resourceAttributes": attributes},
                },
            )
            if review.get("status", {}).get("allowed"):
                return
        if time.monotonic() > deadline:
            raise LabError(
                f"the RBAC grant of {user} ({attributes}) is not in effect after "
                f"{GRANT_TIMEOUT:.0f}s"
            )
        time.sleep(0.1)
