"""KubeClient against a real API server (the lab's shared cluster)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from taichu.kube import (
    ClusterConflict,
    ClusterForbidden,
    ClusterNotFound,
    ClusterRejected,
    CredentialsRejected,
    KubeClient,
    TLSVerificationFailed,
    parse_kubeconfig,
    render_kubeconfig,
)
from taichu.kube.discovery import ApiResource, discover
from taichu.lab.cluster import LabCluster
from taichu.pki import new_ca

pytestmark = pytest.mark.lab


@pytest.fixture
async def kube(lab_cluster: LabCluster) -> AsyncIterator[KubeClient]:
    client = KubeClient(parse_kubeconfig(lab_cluster.kubeconfig))
    yield client
    await client.close()


@pytest.fixture
async def ns(kube: KubeClient) -> AsyncIterator[str]:
    name = f"kube-test-{uuid.uuid4().hex[:8]}"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    yield name
    await kube.delete(f"/api/v1/namespaces/{name}")


def configmap(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_version_and_readyz(kube: KubeClient) -> None:
    version = await kube.version()
    assert version["gitVersion"].startswith("v1.")
    assert await kube.readyz() == (True, "ok")


async def test_list_nodes_in_pages(kube: KubeClient, lab_cluster: LabCluster) -> None:
    expected = {n["metadata"]["name"] for n in lab_cluster.nodes()}
    assert len(expected) >= 3
    paged = [n async for n in kube.list("/api/v1/nodes", page_size=1)]
    assert {n["metadata"]["name"] for n in paged} == expected
    assert len(paged) == len(expected)  # no page repeated
    assert all(n["kind"] == "Node" and n["apiVersion"] == "v1" for n in paged)
    items, version = await kube.list_all("/api/v1/nodes", page_size=2)
    assert {n["metadata"]["name"] for n in items} == expected and int(version) > 0


async def test_configmap_lifecycle(kube: KubeClient, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/configmaps"
    created = await kube.create(base, configmap("cm", a="1"))
    assert created["metadata"]["uid"]
    with pytest.raises(ClusterConflict, match="already exists"):
        await kube.create(base, configmap("cm"))
    await kube.patch(f"{base}/cm", {"data": {"b": "2"}})
    await kube.patch(f"{base}/cm", {"data": {"c": "3"}}, "strategic")
    applied = await kube.patch(f"{base}/cm", configmap("cm", d="4"), "apply", force=True)
    assert applied["data"]["d"] == "4"
    current = await kube.get(f"{base}/cm")
    assert current["data"] == {"a": "1", "b": "2", "c": "3", "d": "4"}
    current["data"] = {"only": "this"}
    replaced = await kube.replace(f"{base}/cm", current)
    assert replaced["data"] == {"only": "this"}
    with pytest.raises(ClusterConflict):  # stale resourceVersion
        await kube.replace(f"{base}/cm", current)
    with pytest.raises(ClusterRejected):
        await kube.create(base, configmap("Not_A_Valid_Name"))
    await kube.delete(f"{base}/cm")
    with pytest.raises(ClusterNotFound, match='"cm" not found'):
        await kube.get(f"{base}/cm")


async def test_paging_over_many_objects(kube: KubeClient, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/configmaps"
    await asyncio.gather(*(kube.create(base, configmap(f"cm-{i}")) for i in range(7)))
    names = [c["metadata"]["name"] async for c in kube.list(base, page_size=2)]
    assert sorted(n for n in names if n.startswith("cm-")) == [f"cm-{i}" for i in range(7)]
    selected, _ = await kube.list_all(base, {"fieldSelector": "metadata.name=cm-3"})
    assert [c["metadata"]["name"] for c in selected] == ["cm-3"]


async def test_watch_sees_events_and_resumes(kube: KubeClient, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/configmaps"
    # Only our object: the controller manager adds kube-root-ca.crt to new namespaces.
    only = {"fieldSelector": "metadata.name=watched"}
    _, version = await kube.list_all(base, only)
    async with kube.watch(base, version, timeout_seconds=30, params=only) as events:
        await kube.create(base, configmap("watched", k="v"))
        event = await asyncio.wait_for(anext(events), 10)
        assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "watched")
        assert events.resource_version == event.resource_version
        resume = events.resource_version
    await kube.delete(f"{base}/watched")
    async with kube.watch(base, resume, timeout_seconds=30, params=only) as events:
        event = await asyncio.wait_for(anext(events), 10)
        assert (event.type, event.object["metadata"]["name"]) == ("DELETED", "watched")


async def test_watch_ends_at_its_timeout(kube: KubeClient, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/configmaps"
    # A name nobody creates: the controller manager adds kube-root-ca.crt to a new
    # namespace whenever it gets round to it, which may fall inside the watch.
    quiet = {"fieldSelector": "metadata.name=nobody-writes-this"}
    _, version = await kube.list_all(base, quiet)
    started = time.monotonic()
    seen = [e async for e in kube.watch(base, version, timeout_seconds=1, params=quiet)]
    assert seen == [] and time.monotonic() - started < 5


async def _discovered(
    kube: KubeClient, group: str, present: bool, timeout: float = 30
) -> ApiResource | None:
    """Poll discovery, aggregated and classic, until both say `group`'s widgets are (or
    are no longer) served; returns the aggregated reading's."""

    async def fetch(path: str, accept: str | None) -> Any:
        return await kube.request("GET", path, accept=accept)

    deadline = time.monotonic() + timeout
    while True:
        found = (await kube.discover()).find(group, "widgets")
        classic = (await discover(fetch, aggregated=False)).find(group, "widgets")
        if bool(found) == bool(classic) == present:
            return found
        assert time.monotonic() < deadline, f"{group} served={not present} after {timeout}s"
        await asyncio.sleep(0.1)


async def test_discover_finds_core_apps_and_crds(kube: KubeClient) -> None:
    group = f"t{uuid.uuid4().hex[:6]}.taichu.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
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
                            "x-kubernetes-preserve-unknown-fields": True,
                        },
                    },
                }
            ],
        },
    }
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    await kube.create(path, crd)
    try:
        found = await _discovered(kube, group, True)  # served within a second or two
        discovery = await kube.discover()
        pods = discovery.find("", "pods")
        deployments = discovery.find("apps", "deployments")
        assert pods and pods.namespaced and "list" in pods.verbs and pods.kind == "Pod"
        assert pods.path("ns1") == "/api/v1/namespaces/ns1/pods"
        assert deployments and deployments.path() == "/apis/apps/v1/deployments"
        assert discovery.find("", "nodes") and not discovery.find("", "nodes").namespaced
        assert not any("/" in r.name for r in discovery.resources)  # no subresources
        assert found and found.kind == "Widget" and found.version == "v1"
        items, _ = await kube.list_all(found.path("default"))
        assert items == []
    finally:
        await kube.delete(f"{path}/widgets.{group}")
        # Leave discovery as found: a later test on this cluster compares two readings.
        await _discovered(kube, group, False)


async def test_classic_discovery_agrees_with_aggregated(kube: KubeClient) -> None:
    async def fetch(path: str, accept: str | None) -> Any:
        return await kube.request("GET", path, accept=accept)

    aggregated = await discover(fetch)
    classic = await discover(fetch, aggregated=False)
    assert aggregated.unavailable == classic.unavailable == ()

    def key(r: ApiResource) -> tuple[str, str, str]:
        return r.group, r.version, r.name

    assert sorted(aggregated.resources, key=key) == sorted(classic.resources, key=key)


async def test_access_reviews_and_forbidden(kube: KubeClient, lab_cluster: LabCluster) -> None:
    ns = f"kube-rbac-{uuid.uuid4().hex[:6]}"
    token = lab_cluster.mint_token(
        ns,
        "reader",
        rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    )
    assert await kube.self_subject_access_review("list", "nodes")
    assert await kube.self_subject_access_review("create", "deployments", "apps", "default")
    limited = KubeClient(kube.access.with_token(token))
    try:
        assert await limited.self_subject_access_review("list", "configmaps", namespace=ns)
        assert not await limited.self_subject_access_review("list", "nodes")
        assert not await limited.self_subject_access_review("delete", "configmaps", namespace=ns)
        rules = await limited.self_subject_rules_review(ns)
        assert any("configmaps" in r.get("resources", []) for r in rules["resourceRules"])
        await limited.list_all(f"/api/v1/namespaces/{ns}/configmaps")
        with pytest.raises(ClusterForbidden) as info:
            await limited.list_all("/api/v1/nodes")
        assert info.value.status == 502 and info.value.cluster_status == 403
        assert info.value.message == (
            f'nodes is forbidden: User "system:serviceaccount:{ns}:reader" cannot list '
            'resource "nodes" in API group "" at the cluster scope'
        )
    finally:
        await limited.close()


async def test_rejected_token(kube: KubeClient) -> None:
    client = KubeClient(kube.access.with_token("not-a-real-token"))
    try:
        with pytest.raises(CredentialsRejected, match=r"refused the credentials \(401\)"):
            await client.version()
    finally:
        await client.close()


async def test_wrong_ca_is_a_tls_error(kube: KubeClient) -> None:
    from dataclasses import replace

    client = KubeClient(replace(kube.access, ca_data=new_ca("someone-else").cert_pem))
    try:
        with pytest.raises(TLSVerificationFailed) as info:
            await client.version()
        assert info.value.status == 503
        assert info.value.message.startswith(f"TLS verification failed for {kube.server}: ")
        assert "certificate signed by unknown authority" in info.value.message
    finally:
        await client.close()


async def test_wrong_server_name_is_a_tls_error(kube: KubeClient) -> None:
    from dataclasses import replace

    client = KubeClient(replace(kube.access, tls_server_name="not-the-apiserver.example"))
    try:
        with pytest.raises(TLSVerificationFailed, match=r"not-the-apiserver\.example"):
            await client.version()
    finally:
        await client.close()


async def test_insecure_only_skips_verification_when_asked(kube: KubeClient) -> None:
    from dataclasses import replace

    insecure = KubeClient(replace(kube.access, ca_data=None, insecure=True))
    system_trust = KubeClient(replace(kube.access, ca_data=None))
    try:
        assert (await insecure.version())["gitVersion"]
        with pytest.raises(TLSVerificationFailed, match="unknown authority"):
            await system_trust.version()  # the lab's CA is in no system store
    finally:
        await insecure.close()
        await system_trust.close()


def test_rendered_kubeconfig_works_for_kubectl(lab_cluster: LabCluster, tmp_path: Path) -> None:
    access = parse_kubeconfig(lab_cluster.kubeconfig)
    path = tmp_path / "kubeconfig"
    path.touch(mode=0o600)
    path.write_text(render_kubeconfig(access))
    proc = subprocess.run(
        [lab_cluster.binaries.bin("kubectl"), f"--kubeconfig={path}", "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) >= 3
