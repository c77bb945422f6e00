"""Back up a real cluster, lose namespaces and a CRD, restore: every object comes back with
the same spec and data, compared field by field. Then into a second, empty cluster under
other namespace names."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from taichu.backups.s3 import S3Client, S3Config
from taichu.config import Settings
from taichu.lab.cluster import LabCluster
from taichu.lab.pytest_fixtures import ClusterFactory
from tests.backups.conftest import both_backends
from tests.backups.helpers import (
    add_cluster,
    backup_done,
    comparable,
    kubectl_json,
    restore_done,
    snapshot,
)
from tests.backups.workload import CRD_NAME, KINDS, install, wait_gone
from tests.clusters.helpers import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]
NAMESPACES = ["bk-a", "bk-b"]


def _diff(before: dict[Any, Any], after: dict[Any, Any]) -> list[str]:
    problems = [f"missing after restore: {key}" for key in before if key not in after]
    problems += [
        f"{key} differs:\n  before {before[key]}\n  after  {after[key]}"
        for key in before
        if key in after and before[key] != after[key]
    ]
    return problems


async def _archive_exists(settings: Settings, backup: dict[str, Any]) -> bool:
    location = backup["storage_location"]
    if not location.startswith("s3://"):
        return await asyncio.to_thread(Path(location).is_file)
    cfg = settings.backups
    client = S3Client(
        S3Config(
            cfg.s3_endpoint or "",
            cfg.s3_region,
            cfg.s3_access_key_id or "",
            cfg.s3_secret_access_key or "",
        )
    )
    try:
        bucket, key = location.removeprefix("s3://").split("/", 1)
        return await client.head_object(bucket, key) is not None
    finally:
        await client.close()


@both_backends
async def test_round_trip_brings_every_object_back_field_by_field(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    lab_cluster_factory: ClusterFactory,
) -> None:
    lab = lab_cluster_factory(workers=1)
    cluster_id = await add_cluster(client, admin_headers, lab, "rt")
    install(lab, NAMESPACES)
    lab.kubectl(
        "apply",
        "-f",
        "-",
        input="""{"apiVersion": "rbac.authorization.k8s.io/v1",
      "kind": "ClusterRole", "metadata": {"name": "widget-reader"},
      "rules": [{"apiGroups": ["test.taichu.io"], "resources": ["widgets"],
                 "verbs": ["get", "list", "watch"]}]}""",
    )
    before = snapshot(lab, NAMESPACES, KINDS)
    namespaces_before = {ns: comparable(kubectl_json(lab, "namespace", ns)) for ns in NAMESPACES}
    crd_before = comparable(kubectl_json(lab, "crd", CRD_NAME))
    role_before = comparable(kubectl_json(lab, "clusterrole", "widget-reader"))
    assert len(before) == 2 * 9

    backup = await backup_done(client, admin_headers, cluster_id, backup_name="before-loss")
    assert backup["storage_size_bytes"] > 0 and await _archive_exists(settings, backup)
    assert backup["items_done"] == backup["items_total"] > 18
    counts = backup["resource_counts"]
    assert counts["apps/v1/deployments"] >= 2 and counts["test.taichu.io/v1/widgets"] == 2

    lab.kubectl("delete", "namespace", *NAMESPACES, "--wait=false")
    lab.kubectl("delete", "crd", CRD_NAME, "--wait=false")
    lab.kubectl("delete", "clusterrole", "widget-reader")
    # Restoring while the namespaces terminate: the restore waits for them to go.
    restore = await restore_done(
        client, admin_headers, cluster_id, backup["id"], restore_name="after-loss"
    )
    assert restore["status"] == "completed", restore
    counts = restore["counts"]
    assert counts["Deployment"]["created"] == 2 and counts["Widget"]["created"] == 2
    assert counts["CustomResourceDefinition"]["created"] >= 1
    assert counts["ReplicaSet"]["created"] == 0 and counts["ReplicaSet"]["skipped"] >= 2
    assert restore["items_done"] == restore["items_total"] and restore["errors"] == []
    assert restore["progress"] == 100 and restore["estimated_time"] == 0

    after = snapshot(lab, NAMESPACES, KINDS)
    assert _diff(before, after) == []
    assert {
        ns: comparable(kubectl_json(lab, "namespace", ns)) for ns in NAMESPACES
    } == namespaces_before
    assert comparable(kubectl_json(lab, "crd", CRD_NAME)) == crd_before
    assert comparable(kubectl_json(lab, "clusterrole", "widget-reader")) == role_before
    # The controllers recreate what they own, on their own time (Deployment, ReplicaSet,
    # then Pods): the pods of the restored Deployments.
    await wait_for(
        lambda: asyncio.to_thread(kubectl_json, lab, "pods", "-n", "bk-a"),
        lambda pods: len(pods["items"]) == 2,
        timeout=60,
    )


@both_backends
async def test_cross_cluster_restore_with_namespace_mapping(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster_factory: ClusterFactory,
) -> None:
    source = lab_cluster_factory(workers=1)
    target = lab_cluster_factory(workers=1)
    source_id = await add_cluster(client, admin_headers, source, "src")
    target_id = await add_cluster(client, admin_headers, target, "dst")
    install(source, NAMESPACES)
    before = snapshot(source, NAMESPACES, KINDS)

    backup = await backup_done(
        client,
        admin_headers,
        source_id,
        backup_name="ns",
        backup_type="namespaces",
        included_namespaces=NAMESPACES,
    )
    assert "rbac.authorization.k8s.io/v1/clusterroles" not in backup["resource_counts"]
    # The CRD comes along: the namespaces' custom resources need it.
    assert backup["resource_counts"]["apiextensions.k8s.io/v1/customresourcedefinitions"] == 1

    mapping = {"bk-a": "copy-a", "bk-b": "copy-b"}
    dry = await restore_done(
        client,
        admin_headers,
        source_id,
        backup["id"],
        dry_run=True,
        target_cluster_id=target_id,
        namespace_mapping=mapping,
    )
    assert dry["status"] == "completed" and dry["dry_run"] is True
    assert dry["counts"]["Deployment"]["created"] == 2
    assert (
        target.kubectl("get", "ns", "copy-a", "--ignore-not-found", "-o", "name").stdout == ""
    )  # a dry run changes nothing

    restore = await restore_done(
        client,
        admin_headers,
        source_id,
        backup["id"],
        target_cluster_id=target_id,
        namespace_mapping=mapping,
    )
    assert restore["status"] == "completed", restore
    after = snapshot(
        target, list(mapping.values()), KINDS, namespace_of={v: k for k, v in mapping.items()}
    )
    # RoleBinding subjects follow their service account into the new namespace.
    for ns in NAMESPACES:
        binding = after[("RoleBinding", ns, "reader")]
        assert binding["subjects"][0]["namespace"] == mapping[ns]
        binding["subjects"][0]["namespace"] = ns
    assert _diff(before, after) == []
    assert target.kubectl("get", "ns", "bk-a", "--ignore-not-found", "-o", "name").stdout == ""
    wait_gone(target, "ns", "bk-b", timeout=1)


async def test_existing_objects_are_skipped_or_updated_as_asked(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    lab_cluster: LabCluster,
) -> None:
    ns = "policy"
    cluster_id = await add_cluster(client, admin_headers, lab_cluster, "policy")
    install(lab_cluster, [ns])
    backup = await backup_done(
        client,
        admin_headers,
        cluster_id,
        backup_name="p",
        backup_type="namespaces",
        included_namespaces=[ns],
    )
    lab_cluster.kubectl(
        "patch",
        "configmap",
        "settings",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"data": {"mode": "changed", "extra": "new"}}',
    )
    lab_cluster.kubectl("delete", "secret", "creds", "-n", ns)

    def live() -> dict[str, Any]:
        return kubectl_json(lab_cluster, "configmap", "settings", "-n", ns)["data"]

    skip = await restore_done(client, admin_headers, cluster_id, backup["id"], restore_name="skip")
    assert skip["status"] == "completed", skip
    assert skip["counts"]["ConfigMap"]["skipped"] == 2 and live()["mode"] == "changed"
    assert skip["counts"]["Secret"]["created"] == 1  # the missing one comes back

    dry = await restore_done(
        client,
        admin_headers,
        cluster_id,
        backup["id"],
        restore_name="dry",
        existing_policy="update",
        dry_run=True,
    )
    assert dry["counts"]["ConfigMap"]["updated"] == 1 and live()["mode"] == "changed"
    assert dry["counts"]["Secret"]["skipped"] == 0 and dry["counts"]["Secret"]["updated"] == 1

    update = await restore_done(
        client,
        admin_headers,
        cluster_id,
        backup["id"],
        restore_name="update",
        existing_policy="update",
    )
    assert update["status"] == "completed", update
    assert update["counts"]["ConfigMap"]["updated"] == 1
    # Merge patch: the backup's values win; keys the backup never had stay.
    assert live()["mode"] == ns and live()["extra"] == "new"
