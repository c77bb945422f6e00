"""The create request's pure rules (taichu.provision.validation)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from taichu.errors import Invalid
from taichu.provision.validation import (
    MachineView,
    check_bundle,
    check_machines,
    check_networks,
    node_name,
)


def m(
    name: str, role: str, address: str = "192.168.1.10", status: str = "available"
) -> MachineView:
    return MachineView(f"id-{name}", name, address, address, role, status)


def test_node_names_are_dns_1123() -> None:
    assert node_name("CP_One.example") == "cp-one.example"
    assert node_name("--x--") == "x"
    assert node_name("!!!") == "node"
    assert len(node_name("a" * 100)) == 63


def test_machines_rules() -> None:
    assert check_machines([m("A", "master"), m("b", "worker")]) == {"id-A": "a", "id-b": "b"}
    with pytest.raises(Invalid, match=r"at least one machine must have the role master"):
        check_machines([m("b", "worker")])
    with pytest.raises(Invalid, match=r"odd number.*2 masters"):
        check_machines([m("a", "master"), m("b", "master")])
    # Dedicated etcd machines count, not the masters.
    check_machines([m("a", "master"), m("b", "master"), m("e", "etcd")])
    with pytest.raises(Invalid, match=r"2 etcd machines"):
        check_machines([m("a", "master"), m("e", "etcd"), m("f", "etcd")])
    with pytest.raises(Invalid, match=r"registry"):
        check_machines([m("a", "master"), m("r", "registry")])
    with pytest.raises(Invalid, match=r"b .* is in_use"):
        check_machines([m("a", "master"), m("b", "worker", status="in_use")])
    with pytest.raises(Invalid, match=r"would both be node x-y"):
        check_machines([m("x_y", "master"), m("X-Y", "worker")])


def test_networks() -> None:
    nets = check_networks("", "", [m("a", "master")])
    assert (nets.pods_cidr, nets.service_cidr, nets.cluster_dns) == (
        "10.244.0.0/16",
        "10.96.0.0/12",
        "10.96.0.10",
    )
    with pytest.raises(Invalid, match=r"network.pods_cidr: 10.96.0.0/16 overlaps"):
        check_networks("10.96.0.0/16", "", [])
    with pytest.raises(Invalid, match=r"network.service_cidr: .*192.168.1.10 of machine a"):
        check_networks("", "192.168.0.0/16", [m("a", "master")])
    with pytest.raises(Invalid, match=r"/8 to /24"):
        check_networks("10.1.2.0/28", "", [])
    with pytest.raises(Invalid, match=r"/12 to /28"):
        check_networks("", "10.0.0.0/8", [])


def test_bundle_rules() -> None:
    manifest = SimpleNamespace(
        kubernetes_version="v1.36.3", network_plugins=["flannel"], container_runtimes=["containerd"]
    )
    assert check_bundle(manifest, "b", "", "", "") == ("v1.36.3", "flannel", "containerd")
    assert check_bundle(manifest, "b", "1.36.3", "flannel", "containerd")[0] == "v1.36.3"
    with pytest.raises(Invalid, match=r"kubernetes.version: v1.35.0 .* carries Kubernetes v1.36.3"):
        check_bundle(manifest, "b", "v1.35.0", "", "")
    with pytest.raises(Invalid, match=r"network.plugin: 'calico' .* it carries: flannel"):
        check_bundle(manifest, "b", "", "calico", "")
    with pytest.raises(Invalid, match=r"kubernetes.container_manager"):
        check_bundle(manifest, "b", "", "", "cri-o")
