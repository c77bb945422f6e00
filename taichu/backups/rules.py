"""What is backed up, what is restored, in which order, and what is stripped on the way.

The order is the one Velero settled on after years of restores that half-worked: CRDs
and namespaces first (CRs need their CRD Established, everything needs its namespace),
then storage, identities and their rights, then the data workloads mount, then the
workloads themselves (whose controllers recreate pods and replica sets, so owned objects
are not restored twice), then custom resources (whose operators expect the rest to be
there), and admission webhooks last (a webhook whose backend is not up yet would refuse
everything after it)."""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]

# Never backed up nor restored: cluster-specific, ephemeral, or derived from other objects.
NEVER: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "nodes"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("", "componentstatuses"),
        ("", "bindings"),
        ("coordination.k8s.io", "leases"),
        ("coordination.k8s.io", "leasecandidates"),
        ("discovery.k8s.io", "endpointslices"),
        ("certificates.k8s.io", "certificatesigningrequests"),
        ("storage.k8s.io", "volumeattachments"),
        ("storage.k8s.io", "csinodes"),
        ("networking.k8s.io", "ipaddresses"),
        ("resource.k8s.io", "resourceslices"),
        ("internal.apiserver.k8s.io", "storageversions"),
        ("storagemigration.k8s.io", "storageversionmigrations"),
    }
)
NEVER_GROUPS = frozenset({"metrics.k8s.io", "authentication.k8s.io", "authorization.k8s.io"})
# Objects the platform itself keeps in clusters (none must come back from an old copy).
PLATFORM_LABEL = "app.kubernetes.io/managed-by"
PLATFORM_VALUE = "taichu"
RESTORED_BY = "taichu.io/restored-by"

CRD_GROUP = "apiextensions.k8s.io"
PHASES: list[tuple[str, frozenset[tuple[str, str]]]] = [
    (
        "Restoring CRDs and namespaces",
        frozenset({(CRD_GROUP, "customresourcedefinitions"), ("", "namespaces")}),
    ),
    (
        "Restoring storage classes and volumes",
        frozenset(
            {
                ("storage.k8s.io", "storageclasses"),
                ("", "persistentvolumes"),
                ("", "persistentvolumeclaims"),
            }
        ),
    ),
    (
        "Restoring RBAC and service accounts",
        frozenset(
            {
                ("rbac.authorization.k8s.io", r)
                for r in ("clusterroles", "clusterrolebindings", "roles", "rolebindings")
            }
            | {("", "serviceaccounts")}
        ),
    ),
    ("Restoring secrets", frozenset({("", "secrets")})),
    ("Restoring config maps", frozenset({("", "configmaps")})),
    (
        "Restoring limit ranges, quotas and priority classes",
        frozenset(
            {("", "limitranges"), ("", "resourcequotas"), ("scheduling.k8s.io", "priorityclasses")}
        ),
    ),
    ("Restoring services and workloads", frozenset()),  # every other built-in type
    ("Restoring custom resources", frozenset()),  # types served by a CRD
    (
        "Restoring admission webhooks and API services",
        frozenset(
            {
                ("admissionregistration.k8s.io", r)
                for r in (
                    "mutatingwebhookconfigurations",
                    "validatingwebhookconfigurations",
                    "validatingadmissionpolicies",
                    "validatingadmissionpolicybindings",
                    "mutatingadmissionpolicies",
                    "mutatingadmissionpolicybindings",
                )
            }
            | {("apiregistration.k8s.io", "apiservices")}
        ),
    ),
]
WORKLOAD_PHASE, CUSTOM_PHASE = 6, 7
# Within the workload phase: services before what selects them, endpoints after services.
_WORKLOAD_ORDER = {
    ("", "services"): 0,
    ("", "endpoints"): 1,
    ("apps", "deployments"): 2,
    ("apps", "statefulsets"): 2,
    ("apps", "daemonsets"): 2,
    ("apps", "replicasets"): 3,
    ("", "replicationcontrollers"): 3,
    ("", "pods"): 4,
}

_STRIPPED_METADATA = (
    "uid",
    "resourceVersion",
    "managedFields",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_PVC_BINDING_ANNOTATIONS = (
    "volume.kubernetes.io/selected-node",
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
)
_JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
_SA_TOKEN = "kubernetes.io/service-account-token"  # noqa: S105 - a Secret type


def backed_up(group: str, resource: str, verbs: frozenset[str]) -> bool:
    return (
        "list" in verbs
        and "create" in verbs
        and group not in NEVER_GROUPS
        and (group, resource) not in NEVER
    )


def phase_of(group: str, resource: str, is_custom: bool) -> int:
    for number, (_, members) in enumerate(PHASES):
        if (group, resource) in members:
            return number
    return CUSTOM_PHASE if is_custom else WORKLOAD_PHASE


def order_in_phase(group: str, resource: str) -> int:
    return _WORKLOAD_ORDER.get((group, resource), 2)


def _group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


# --- backup: strip what must not come back -----------------------------------------------


def _applied_spec(obj: Obj) -> Obj:
    """The spec the user last applied (kubectl records it), to tell the node ports they
    asked for from those the cluster assigned."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(
        "kubectl.kubernetes.io/last-applied-configuration"
    )
    try:
        applied = json.loads(raw) if raw else {}
    except (ValueError, TypeError, RecursionError):  # not JSON text, or nested too deep
        return {}
    spec = applied.get("spec") if isinstance(applied, dict) else None
    return spec if isinstance(spec, dict) else {}


def _strip_service(obj: Obj) -> None:
    spec = obj.get("spec") or {}
    # Headless services keep "None"; allocated addresses would collide in another cluster.
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    applied = _applied_spec(obj)
    explicit = {
        (str(p.get("name", "")), p.get("nodePort"))
        for p in applied.get("ports") or []
        if isinstance(p, dict)
    }
    for port in spec.get("ports") or []:
        if port.get("nodePort") and (str(port.get("name", "")), port["nodePort"]) not in explicit:
            port.pop("nodePort", None)
    if spec.get("healthCheckNodePort") != applied.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)


def strip(obj: Obj) -> Obj:
    """The object as it is stored in an archive (changed in place and returned)."""
    obj.pop("status", None)
    metadata = obj.get("metadata") or {}
    for key in _STRIPPED_METADATA:
        metadata.pop(key, None)
    # Owner uids change when owners are recreated; kind, name and `controller` stay so a
    # restore can tell objects that a controller will recreate.
    for ref in metadata.get("ownerReferences") or []:
        ref.pop("uid", None)
    kind, group = obj.get("kind"), _group_of(str(obj.get("apiVersion", "")))
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else None
    if group == "" and kind == "Service":
        _strip_service(obj)
    elif group == "" and kind == "Pod" and spec is not None:
        spec.pop("nodeName", None)  # a node binding: the scheduler places it again
    elif group == "" and kind == "PersistentVolumeClaim":
        annotations = metadata.get("annotations") or {}
        for key in _PVC_BINDING_ANNOTATIONS:
            annotations.pop(key, None)
    elif group == "" and kind == "PersistentVolume" and spec is not None:
        claim = spec.get("claimRef")
        if isinstance(claim, dict):
            claim.pop("uid", None)
            claim.pop("resourceVersion", None)
    return obj


# --- restore: decide and transform -------------------------------------------------------


def skip_reason(
    obj: Obj, owner_types: set[tuple[str, str, str | None]], selector_services: set[tuple[str, str]]
) -> str | None:
    """Why `obj` is not restored, or None. `owner_types` holds (group, kind, namespace) of
    the parts being restored; `selector_services` the (namespace, name) of services with a
    selector (their endpoints are the endpoints controller's)."""
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    kind, group = obj.get("kind"), _group_of(str(obj.get("apiVersion", "")))
    name, namespace = metadata.get("name", ""), metadata.get("namespace")
    if labels.get(PLATFORM_LABEL) == PLATFORM_VALUE:
        return "the platform's own object"
    for ref in metadata.get("ownerReferences") or []:
        owner = (_group_of(str(ref.get("apiVersion", ""))), str(ref.get("kind")), namespace)
        if ref.get("controller") and (
            owner in owner_types or (owner[0], owner[1], None) in owner_types
        ):
            return f"owned by {ref.get('kind')}/{ref.get('name')}, whose controller recreates it"
    if group == "" and kind == "ConfigMap" and name == "kube-root-ca.crt":
        return "published by the cluster itself (its own CA)"
    if (
        group == ""
        and kind in ("Service", "Endpoints")
        and namespace == "default"
        and name == "kubernetes"
    ):
        return "the API server's own service"
    if group == "" and kind == "Endpoints" and (namespace, name) in selector_services:
        return "maintained by the endpoints controller for its service"
    automanaged = labels.get("kube-aggregator.kubernetes.io/automanaged")
    if group == "apiregistration.k8s.io" and automanaged:
        return "managed by the API server"
    return None


def transform(obj: Obj, mapping: dict[str, str], restore_id: str) -> Obj:
    """The body to create in the target cluster."""
    obj = strip(obj)  # archives are stripped already; older formats may not be
    metadata = obj.setdefault("metadata", {})
    metadata.pop("ownerReferences", None)
    metadata.pop("generateName", None)
    kind, group = obj.get("kind"), _group_of(str(obj.get("apiVersion", "")))
    namespace = metadata.get("namespace")
    if namespace:
        metadata["namespace"] = mapping.get(namespace, namespace)
    if group == "" and kind == "Namespace":
        metadata["name"] = mapping.get(metadata.get("name", ""), metadata.get("name"))
        metadata.get("labels", {}).pop("kubernetes.io/metadata.name", None)
    elif group == "rbac.authorization.k8s.io" and kind in ("RoleBinding", "ClusterRoleBinding"):
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and subject.get("namespace"):
                subject["namespace"] = mapping.get(subject["namespace"], subject["namespace"])
    elif group == "" and kind == "PersistentVolume":
        claim = (obj.get("spec") or {}).get("claimRef")
        if isinstance(claim, dict) and claim.get("namespace"):
            claim["namespace"] = mapping.get(claim["namespace"], claim["namespace"])
    elif group == "" and kind == "Secret" and obj.get("type") == _SA_TOKEN:
        # The token controller fills in a token for the new service account's uid.
        obj.pop("data", None)
        metadata.get("annotations", {}).pop("kubernetes.io/service-account.uid", None)
    elif group == "batch" and kind == "Job":
        spec = obj.get("spec") or {}
        if not spec.get("manualSelector"):
            # The selector was generated from the old Job's uid; the API server makes a new
            # one and refuses the old.
            spec.pop("selector", None)
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            for key in _JOB_UID_LABELS:
                labels.pop(key, None)
    metadata.setdefault("annotations", {})[RESTORED_BY] = restore_id
    return obj


def restored_by(obj: Obj) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(RESTORED_BY)
