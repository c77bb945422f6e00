"""The lab's clusters: real control planes with kwok nodes."""

from __future__ import annotations

import json
import ssl
import time
import uuid

import httpx
import pytest
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from taichu.lab.binaries import K8S_VERSION
from taichu.lab.cluster import LabCluster
from taichu.lab.kwok import LAB_LABEL
from taichu.lab.pytest_fixtures import ClusterFactory

pytestmark = pytest.mark.lab


def _ready_nodes(cluster: LabCluster) -> dict[str, str]:
    out = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)
    return {
        n["metadata"]["name"]: next(
            c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"
        )
        for n in out["items"]
    }


def test_two_clusters_each_with_their_own_ready_nodes(
    lab_cluster: LabCluster, lab_cluster_factory: ClusterFactory
) -> None:
    other = lab_cluster_factory("second", workers=2, control_planes=1)
    assert other.server != lab_cluster.server

    # The shared cluster may carry other tests' nodes too: its own four must be there.
    shared = _ready_nodes(lab_cluster)
    assert {n: shared.get(n) for n in ("control-plane-1", "worker-1", "worker-2", "worker-3")} == {
        "control-plane-1": "True",
        "worker-1": "True",
        "worker-2": "True",
        "worker-3": "True",
    }
    assert _ready_nodes(other) == {
        "control-plane-1": "True",
        "worker-1": "True",
        "worker-2": "True",
    }
    text = other.kubectl("get", "nodes").stdout
    assert "control-plane-1   Ready    control-plane" in text
    for cluster in (lab_cluster, other):
        assert cluster.version()["gitVersion"] == K8S_VERSION
        # The kubeconfig is self-contained: no file references.
        user = yaml.safe_load(cluster.kubeconfig)["users"][0]["user"]
        assert set(user) == {"client-certificate-data", "client-key-data"}


def test_deployment_pods_are_scheduled_and_run(lab_cluster: LabCluster) -> None:
    ns = f"deploy-{uuid.uuid4().hex[:6]}"
    lab_cluster.kubectl("create", "namespace", ns)
    lab_cluster.kubectl(
        "-n", ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=3"
    )
    lab_cluster.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s")
    pods = json.loads(lab_cluster.kubectl("-n", ns, "get", "pods", "-o", "json").stdout)["items"]
    assert len(pods) == 3
    workers = {n["metadata"]["name"] for n in lab_cluster.nodes("worker")}
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        # The control-plane node is tainted like a real one: nothing lands there.
        assert pod["spec"]["nodeName"] in workers
        assert pod["status"]["podIP"].startswith("10.244.")
    lab_cluster.kubectl("delete", "namespace", ns, "--wait=false")


async def test_restricted_token_is_confined_to_its_namespace(lab_cluster: LabCluster) -> None:
    ns = f"team-{uuid.uuid4().hex[:6]}"
    token = lab_cluster.mint_token(
        ns,
        "reader",
        rules=[
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create"]}
        ],
    )
    # Through the client the platform uses, from a token kubeconfig.
    api_client = await k8s_config.new_client_from_config_dict(
        yaml.safe_load(lab_cluster.kubeconfig_for_token(token))
    )
    async with api_client:
        core = k8s.CoreV1Api(api_client)
        await core.create_namespaced_config_map(
            ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="allowed"))
        )
        listed = await core.list_namespaced_config_map(ns)
        assert [c.metadata.name for c in listed.items if c.metadata.name == "allowed"]
        for call in (
            core.list_namespaced_config_map("default"),
            core.list_namespaced_pod(ns),
            core.list_node(),
        ):
            with pytest.raises(ApiException) as refused:
                await call
            assert refused.value.status == 403

    viewer = lab_cluster.mint_token(ns, "viewer", role="view", long_lived=True)
    headers = {"Authorization": f"Bearer {viewer}"}
    tls = ssl.create_default_context(cadata=lab_cluster.ca_pem.decode())
    async with httpx.AsyncClient(base_url=lab_cluster.server, verify=tls) as http:
        resp = await http.get(f"/api/v1/namespaces/{ns}/pods", headers=headers)
        assert resp.status_code == 200
        resp = await http.get("/api/v1/namespaces/default/pods", headers=headers)
        assert resp.status_code == 403


async def test_minting_an_account_again_gives_it_the_rights_asked_for(
    lab_cluster: LabCluster,
) -> None:
    """Tests share a session cluster: a second mint of the same account must not keep the
    first one's rules (it did, and a test waited 30 s for a grant that never came)."""
    ns = f"team-{uuid.uuid4().hex[:6]}"
    lab_cluster.mint_token(ns, "again", rules=[])
    token = lab_cluster.mint_token(
        ns, "again", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    )
    tls = ssl.create_default_context(cadata=lab_cluster.ca_pem.decode())
    async with httpx.AsyncClient(base_url=lab_cluster.server, verify=tls) as http:
        resp = await http.get(
            f"/api/v1/namespaces/{ns}/pods", headers={"Authorization": f"Bearer {token}"}
        )
    assert resp.status_code == 200, resp.text


def test_api_server_restart_keeps_data(lab_cluster: LabCluster) -> None:
    name = f"survivor-{uuid.uuid4().hex[:6]}"
    lab_cluster.kubectl("create", "configmap", name, "--from-literal=k=v")
    lab_cluster.stop_apiserver()
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{lab_cluster.server}/readyz", verify=False, timeout=2)  # noqa: S501
        assert lab_cluster.kubectl("get", "nodes", check=False, timeout=20).returncode != 0
    finally:
        started = time.monotonic()
        lab_cluster.start_apiserver()
    assert time.monotonic() - started < 60
    got = json.loads(lab_cluster.kubectl("get", "configmap", name, "-o", "json").stdout)
    assert got["data"] == {"k": "v"}
    lab_cluster.kubectl("delete", "configmap", name)


def _settled_node_names(cluster: LabCluster, timeout: float = 30) -> set[str]:
    """The names nodes() gives once it agrees with etcd. nodes() reads the API server's
    watch cache (resourceVersion=0), which may still hold nodes deleted a moment ago."""
    deadline = time.monotonic() + timeout
    while True:
        cached = {n["metadata"]["name"] for n in cluster.nodes()}
        stored = {
            n["metadata"]["name"]
            for n in cluster.api.get("/api/v1/nodes", labelSelector=f"{LAB_LABEL}=true")["items"]
        }
        if cached == stored:
            return cached
        assert time.monotonic() < deadline, f"nodes() {cached} != stored {stored}"
        time.sleep(0.2)


def test_nodes_scale_up_and_down(lab_cluster: LabCluster) -> None:
    before = _settled_node_names(lab_cluster)
    names = lab_cluster.create_nodes(
        40, prefix="scale", labels={"pool": "burst"}, cpu="4", memory="16Gi"
    )
    nodes = {n["metadata"]["name"]: n for n in lab_cluster.nodes()}
    assert set(nodes) == before | set(names) and len(names) == 40
    assert nodes["scale-1"]["metadata"]["labels"]["pool"] == "burst"
    assert nodes["scale-1"]["status"]["allocatable"]["cpu"] == "4"
    lab_cluster.delete_nodes(names)
    assert _settled_node_names(lab_cluster) == before
