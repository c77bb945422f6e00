"""Autoscaling: what runs in the cluster (HPAs, VPAs, a cluster-autoscaler Deployment and
its node-group bounds) and what the operator set for it (`AutoscalingSettings`)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.clusters.models import AutoscalingSettings
from taichu.errors import Invalid
from taichu.kube import KubeClient
from taichu.observe.reads import (
    argv_tokens,
    count,
    last_flag,
    list_items,
    parse_flags,
    program_index,
    served_version,
)

Obj = dict[str, Any]
SETTINGS_FIELDS = (
    "enabled",
    "min_nodes",
    "max_nodes",
    "scale_up_threshold",
    "scale_down_threshold",
)
VPA_GROUP = "autoscaling.k8s.io"


def hpa_item(hpa: Obj) -> dict[str, Any]:
    meta = hpa.get("metadata") or {}
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    target = spec.get("scaleTargetRef") or {}
    return {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "min_replicas": int(spec.get("minReplicas") or 1),  # the API's default
        "max_replicas": int(spec.get("maxReplicas") or 0),
        "current_replicas": int(status.get("currentReplicas") or 0),
        "desired_replicas": int(status.get("desiredReplicas") or 0),
        "target_kind": target.get("kind"),
        "target_name": target.get("name"),
    }


def node_groups(flags: dict[str, list[str]]) -> list[dict[str, Any]]:
    """`--nodes=min:max:group` (repeatable) as node groups; malformed values are skipped."""
    groups = []
    for value in flags.get("nodes", []):
        low, _, rest = value.partition(":")
        high, _, name = rest.partition(":")
        if low.isdigit() and high.isdigit():
            groups.append({"name": name, "min_nodes": int(low), "max_nodes": int(high)})
    return groups


def _utilization_percent(value: str | None) -> int | None:
    try:
        return round(float(value) * 100) if value else None
    except ValueError:
        return None


def autoscaler_from(deployment: Obj) -> dict[str, Any] | None:
    """The cluster-autoscaler a Deployment runs, if its container runs one."""
    meta = deployment.get("metadata") or {}
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in template.get("containers") or []:
        tokens = argv_tokens(container)
        start = program_index(tokens, "cluster-autoscaler")
        image = str(container.get("image") or "").rsplit("/", 1)[-1]
        if start is None and not image.startswith("cluster-autoscaler"):
            continue
        flags = parse_flags(tokens[start + 1 :] if start is not None else tokens)
        spec = deployment.get("spec") or {}
        replicas = spec.get("replicas")
        return {
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "replicas": 1 if replicas is None else int(replicas),
            "ready_replicas": int((deployment.get("status") or {}).get("readyReplicas") or 0),
            "node_groups": node_groups(flags),
            "scale_down_utilization_threshold": _utilization_percent(
                last_flag(flags, "scale-down-utilization-threshold")
            ),
        }
    return None


async def _hpas(kube: KubeClient) -> list[dict[str, Any]]:
    items = [
        hpa_item(h) async for h in list_items(kube, "/apis/autoscaling/v2/horizontalpodautoscalers")
    ]
    return sorted(items, key=lambda h: (h["namespace"], h["name"]))


async def _vpas(kube: KubeClient) -> tuple[bool, int]:
    version = await served_version(kube, VPA_GROUP)
    if version is None:
        return False, 0
    return True, await count(kube, f"/apis/{VPA_GROUP}/{version}/verticalpodautoscalers")


async def _autoscaler(kube: KubeClient) -> dict[str, Any] | None:
    async for deployment in list_items(kube, "/apis/apps/v1/deployments"):
        found = autoscaler_from(deployment)
        if found is not None:
            return found
    return None


async def detect(kube: KubeClient) -> dict[str, Any]:
    hpas, (vpa_present, vpa_count), autoscaler = await asyncio.gather(
        _hpas(kube), _vpas(kube), _autoscaler(kube)
    )
    return {
        "hpas": hpas,
        "vpa_present": vpa_present,
        "vpa_count": vpa_count,
        "autoscaler": autoscaler,
    }


def policies(detected: dict[str, Any], stored: AutoscalingSettings | None) -> dict[str, Any]:
    """Stored settings win field by field; the detected autoscaler's bounds fill the gaps."""
    autoscaler = detected["autoscaler"]
    running = autoscaler is not None and autoscaler["replicas"] > 0
    groups = autoscaler["node_groups"] if autoscaler else []
    found: dict[str, Any] = {
        "enabled": running,
        # A cluster's bounds are the sums of its node groups' bounds.
        "min_nodes": sum(g["min_nodes"] for g in groups) if groups else None,
        "max_nodes": sum(g["max_nodes"] for g in groups) if groups else None,
        "scale_up_threshold": None,  # cluster-autoscaler scales up on pending pods
        "scale_down_threshold": autoscaler["scale_down_utilization_threshold"]
        if autoscaler
        else None,
    }
    values = dict(found)
    source = "detected" if autoscaler else "none"
    if stored is not None:
        source = "stored"
        for name in SETTINGS_FIELDS:
            value = getattr(stored, name)
            if value is not None:
                values[name] = value
    return {
        **values,
        "settings_source": source,
        "hpa_count": len(detected["hpas"]),
        "hpa_policies": detected["hpas"],
        "cluster_autoscaler_enabled": running,
        "cluster_autoscaler": autoscaler,
        "vpa_count": detected["vpa_count"],
        "vpa_crd_present": detected["vpa_present"],
        "vpa_note": None
        if detected["vpa_present"]
        else ("the VerticalPodAutoscaler CRD (autoscaling.k8s.io) is not installed"),
    }


def check_settings(values: dict[str, Any]) -> None:
    """Rules across fields (each field's own range is checked by the request model)."""
    if values["min_nodes"] > values["max_nodes"]:
        raise Invalid(
            f"min_nodes: must not exceed max_nodes ({values['min_nodes']} > {values['max_nodes']})"
        )
    if values["scale_down_threshold"] >= values["scale_up_threshold"]:
        raise Invalid(
            "scale_down_threshold: must be below scale_up_threshold "
            f"({values['scale_down_threshold']} >= {values['scale_up_threshold']})"
        )


def settings_dict(row: AutoscalingSettings | None) -> dict[str, Any] | None:
    return None if row is None else {name: getattr(row, name) for name in SETTINGS_FIELDS}


async def store_settings(
    session: AsyncSession, cluster_id: str, values: dict[str, Any]
) -> AutoscalingSettings:
    check_settings(values)
    row = await session.get(AutoscalingSettings, cluster_id)
    old = settings_dict(row)
    if row is None:
        row = AutoscalingSettings(cluster_id=cluster_id, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    await session.flush()
    await session.refresh(row)  # updated_at is set by the flush
    audit.note(
        resource="autoscaling_policy",
        resource_id=cluster_id,
        cluster_id=cluster_id,
        old_value=old,
        new_value=settings_dict(row),
    )
    return row
