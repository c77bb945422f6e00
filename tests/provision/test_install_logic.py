"""Pure parts of the installer's steps: which files each role gets, image names under an
image_repo, the API server each machine uses, ports, routes teardown removes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from taichu.provision.install import steps_nodes
from taichu.provision.install.pipeline import PIPELINE, STEP_NAMES
from taichu.provision.install.remote import api_server, uses_apilb
from taichu.provision.install.steps_workers import image_name
from taichu.provision.install.teardown import pod_routes
from taichu.provision.pki import ClusterPki
from taichu.provision.plan import ClusterPlan, NodePlan
from taichu.ssh import SshCredentials, SshTarget


def node(name: str, address: str, role: str) -> NodePlan:
    target = SshTarget(address, "root", SshCredentials(password="x"))
    return NodePlan(f"id-{name}", name, address, role, role in ("master", "etcd"), target)


def plan(*nodes: NodePlan, image_repo: str | None = None) -> ClusterPlan:
    return ClusterPlan(
        task_id="t",
        cluster_id="c",
        cluster_name="c",
        kubernetes_version="v1.36.3",
        network_plugin="flannel",
        container_runtime="containerd",
        pods_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/16",
        cluster_dns="10.96.0.10",
        cluster_domain="cluster.local",
        api_port=6443,
        image_repo=image_repo,
        with_packages=False,
        bundle=None,
        nodes=nodes,
    )


M1, M2, M3 = (
    node("m1", "10.0.0.1", "master"),
    node("m2", "10.0.0.2", "master"),
    node("m3", "10.0.0.3", "master"),
)
W1, E1 = node("w1", "10.0.0.11", "worker"), node("e1", "10.0.0.21", "etcd")


def test_the_pipeline_is_the_contracts() -> None:
    assert STEP_NAMES == (
        "preflight",
        "packages",
        "distribute",
        "pki",
        "etcd",
        "control_plane",
        "runtime",
        "kubelet",
        "kube_proxy",
        "network",
        "dns",
        "verify",
    )
    assert PIPELINE.load_pki == ClusterPki.from_json
    each = {s.name: s.each for s in PIPELINE.steps}
    assert each["etcd"] is None and each["dns"] is None and each["verify"] is None
    p = plan(M1, W1, E1)
    assert [n.name for n in each["control_plane"](p)] == ["m1"]  # type: ignore[misc]
    assert [n.name for n in each["kubelet"](p)] == ["m1", "w1"]  # type: ignore[misc]
    assert [n.name for n in each["distribute"](p)] == ["m1", "w1", "e1"]  # type: ignore[misc]


def test_which_api_server_each_machine_uses() -> None:
    single = plan(M1, W1)
    assert api_server(single, M1) == "https://127.0.0.1:6443"
    assert api_server(single, W1) == "https://10.0.0.1:6443"
    assert not uses_apilb(single, W1)
    ha = plan(M1, M2, M3, W1)
    assert uses_apilb(ha, W1) and not uses_apilb(ha, M2)
    assert api_server(ha, W1) == "https://127.0.0.1:6443"  # its taichu-apilb


@pytest.fixture(scope="module")
def ha_pki() -> tuple[ClusterPlan, ClusterPki]:
    p = plan(M1, M2, M3, W1, E1)
    return p, ClusterPki.create(p)


def files_of(p: ClusterPlan, pki: ClusterPki, n: NodePlan) -> dict[str, tuple[Any, int]]:
    ctx: Any = SimpleNamespace(plan=p, pki=pki)
    return {path: (data, mode) for data, path, mode in steps_nodes.node_files(ctx, n)}


def test_a_worker_gets_no_control_plane_or_etcd_secrets(
    ha_pki: tuple[ClusterPlan, ClusterPki],
) -> None:
    p, pki = ha_pki
    files = files_of(p, pki, W1)
    assert "/etc/kubernetes/pki/ca.key" not in files
    assert not any("/etcd/" in f or "apiserver" in f or "sa." in f for f in files), files
    assert files["/etc/kubernetes/pki/kubelet.crt"][0] == pki.cert("kubelet-serving-w1").cert_pem
    assert files["/etc/kubernetes/pki/kubelet.key"][1] == 0o600
    assert files["/etc/kubernetes/kubelet.kubeconfig"][1] == 0o600
    assert set(files) >= {
        "/etc/kubernetes/kube-proxy.kubeconfig",
        "/etc/kubernetes/flannel.kubeconfig",
    }


def test_a_master_gets_its_own_etcd_certs_and_the_signing_keys(
    ha_pki: tuple[ClusterPlan, ClusterPki],
) -> None:
    p, pki = ha_pki
    files = files_of(p, pki, M2)
    assert files["/etc/kubernetes/pki/etcd/server.crt"][0] == pki.cert("etcd-server-m2").cert_pem
    assert files["/etc/kubernetes/pki/etcd/peer.key"][0] == pki.cert("etcd-peer-m2").key_pem
    assert files["/etc/kubernetes/pki/ca.key"] == (pki.ca.key_pem, 0o600)
    assert files["/etc/kubernetes/pki/sa.key"][1] == 0o600
    assert "/etc/kubernetes/admin.kubeconfig" in files
    etcd_only = files_of(p, pki, E1)
    assert set(etcd_only) == {
        "/etc/kubernetes/pki/etcd/ca.crt",
        "/etc/kubernetes/pki/etcd/server.crt",
        "/etc/kubernetes/pki/etcd/server.key",
        "/etc/kubernetes/pki/etcd/peer.crt",
        "/etc/kubernetes/pki/etcd/peer.key",
        "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "/etc/kubernetes/pki/etcd/healthcheck-client.key",
    }


def test_bundle_files_by_role() -> None:
    single, ha = plan(M1, W1, E1), plan(M1, M2, M3, W1)
    assert steps_nodes._wants(single, M1, "bin/kube-apiserver")
    assert not steps_nodes._wants(single, W1, "bin/kube-apiserver")
    assert steps_nodes._wants(single, E1, "bin/etcd") and not steps_nodes._wants(
        single, W1, "bin/etcd"
    )
    assert not steps_nodes._wants(single, E1, "bin/kubelet")
    assert steps_nodes._wants(single, W1, "images/pause.tar")
    assert not steps_nodes._wants(single, W1, "bin/taichu-apilb")
    assert steps_nodes._wants(ha, W1, "bin/taichu-apilb")


def test_image_names_under_an_image_repo() -> None:
    assert image_name(plan(M1), "registry.k8s.io/pause:3.10") == "registry.k8s.io/pause:3.10"
    repo = plan(M1, image_repo="harbor.corp:5000/k8s/")
    assert image_name(repo, "registry.k8s.io/pause:3.10") == "harbor.corp:5000/k8s/pause:3.10"
    assert image_name(repo, "registry.k8s.io/coredns/coredns:v1.15.0") == (
        "harbor.corp:5000/k8s/coredns/coredns:v1.15.0"
    )
    assert image_name(repo, "library/busybox:1.36") == "harbor.corp:5000/k8s/library/busybox:1.36"


def test_listening_ports_and_pod_routes() -> None:
    tcp = (
        "  sl  local_address rem_address   st\n"
        "   0: 00000000:192B 00000000:0000 0A 00000000:00000000\n"  # 6443 LISTEN
        "   1: 0100007F:0950 0100007F:9999 01 00000000:00000000\n"  # 2384 ESTABLISHED
    )
    assert steps_nodes._listening_ports(tcp) == {6443}
    routes = (
        "default via 10.0.0.254 dev eth0\n"
        "10.0.0.0/24 dev eth1 proto kernel scope link src 10.0.0.1\n"
        "10.244.1.0/24 via 10.0.0.2 dev eth1\n"
        "10.244.2.0/24 via 10.0.0.3 dev eth1\n"
        "10.245.0.0/24 via 10.0.0.3 dev eth1\n"
    )
    assert pod_routes(routes, "10.244.0.0/16") == ["10.244.1.0/24", "10.244.2.0/24"]
