"""The pure rules of expansions and node removals: picking by facts, totals, version
skew, networks, the join credential, what a drain leaves alone, the bootstrap kubelet."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from taichu.errors import Invalid
from taichu.pki import new_ca
from taichu.provision import join
from taichu.provision.drain import skipped_by_drain
from taichu.provision.install import configs as C
from taichu.provision.validation import MachineView

GIB = 2**30


def candidate(name: str, cpu: int, memory_gb: int, storage_gb: int = 100) -> join.Candidate:
    view = MachineView(f"id-{name}", name, f"192.168.9.{len(name)}", "", "worker", "available")
    facts = {"cpu_cores": cpu, "memory_bytes": memory_gb * GIB, "disk_root_bytes": storage_gb * GIB}
    found = join.Candidate.of(view, facts)
    assert found is not None
    return found


OLD = join.Totals(3, 12, 48, 300)


def test_pick_takes_the_smallest_machines_that_reach_the_totals() -> None:
    pool = [candidate("big", 16, 64), candidate("small", 2, 4), candidate("mid", 4, 16)]
    chosen = join.pick(pool, OLD, join.Totals(5, 18, 60, 500))
    assert sorted(c.view.name for c in chosen) == ["mid", "small"]
    # More cores than small + mid bring: the big one is needed.
    chosen = join.pick(pool, OLD, join.Totals(5, 30, 60, 500))
    assert "big" in [c.view.name for c in chosen] and len(chosen) == 2


def test_pick_says_what_is_missing() -> None:
    pool = [candidate("a", 2, 4), candidate("b", 2, 4)]
    with pytest.raises(Invalid) as e:
        join.pick(pool, OLD, join.Totals(6, 12, 48, 300))
    assert e.value.message.startswith("new_node_count: 6 nodes asked and the cluster has 3")
    assert "3 available worker machines with facts are needed, 2 there are (a, b)" in (
        e.value.message
    )
    with pytest.raises(Invalid) as e:
        join.pick(pool, OLD, join.Totals(5, 20, 48, 300))
    assert e.value.message == (
        "new_cpu_cores: 20 CPU cores asked; the cluster has 12 and the 2 largest available "
        "worker machines add 4: 4 CPU cores missing"
    )
    with pytest.raises(Invalid) as e:
        join.pick(pool, OLD, join.Totals(5, 12, 100, 300))
    assert e.value.message.startswith("new_memory_gb: 100 GiB of memory asked")


def test_check_totals_of_given_machines_names_the_field() -> None:
    given = [candidate("a", 4, 8, 50)]
    join.check_totals(OLD, given, join.Totals(4, 16, 56, 350), "the given machines")
    with pytest.raises(Invalid) as e:
        join.check_totals(OLD, given, join.Totals(4, 16, 56, 351), "the given machines")
    assert e.value.message == (
        "new_storage_gb: 351 GiB of storage asked; the cluster has 300 and the given machines "
        "add 50: 1 GiB of storage missing"
    )


def test_a_machine_without_facts_is_no_candidate() -> None:
    view = MachineView("x", "x", "10.0.0.1", "", "worker", "available")
    assert join.Candidate.of(view, None) is None


def test_live_totals_round_to_the_specs_units() -> None:
    totals = join.live_totals(
        {
            "node_count": 3,
            "total_cpu_cores": 11.9,
            "total_memory_bytes": 48 * GIB - 200 * 2**20,
            "total_storage_bytes": 300 * GIB,
        }
    )
    assert totals == join.Totals(3, 12, 48, 300)


@pytest.mark.parametrize(
    ("api", "kubelet", "why"),
    [
        ("v1.36.3", "v1.36.3", None),
        ("v1.36.3", "v1.33.0", None),
        ("v1.36.3", "v1.32.9", "more than 3 minor versions apart"),
        ("v1.35.1", "v1.36.3", "may not be newer than its API server"),
        ("v2.0.0", "v1.36.3", "may not be newer"),
        ("v1.36.3+k3s1", "1.36", None),
        ("weird", "v1.36.3", "is not a Kubernetes version"),
    ],
)
def test_version_skew(api: str, kubelet: str, why: str | None) -> None:
    if why is None:
        join.check_version_skew(api, kubelet)
        return
    with pytest.raises(Invalid) as e:
        join.check_version_skew(api, kubelet)
    assert why in e.value.message


def test_join_networks() -> None:
    inside = MachineView("i", "inside", "10.244.3.7", "", "worker", "available")
    with pytest.raises(Invalid) as e:
        join.check_join_networks("10.244.0.0/16", "10.96.0.0/12", [inside], 4)
    assert e.value.message.startswith("network.pods_cidr: 10.244.0.0/16 contains the address")
    outside = MachineView("o", "outside", "192.168.1.7", "", "worker", "available")
    join.check_join_networks("10.244.0.0/16", "10.96.0.0/12", [outside], 256)
    with pytest.raises(Invalid) as e:  # a /24 pod network: /28 per node, 16 of them
        join.check_join_networks("10.244.0.0/24", "10.96.0.0/12", [outside], 17)
    assert e.value.message == (
        "network.pods_cidr: the cluster's pod network 10.244.0.0/24 has 16 node subnets "
        "(/28); the cluster would have 17 nodes"
    )


def test_join_credential_is_fresh_short_lived_and_only_a_joiner() -> None:
    ca = new_ca("c-ca")
    one = join.join_credential(ca, "worker-a", "0123456789abcdef", 600)
    two = join.join_credential(ca, "worker-a", "0123456789abcdef", 600)
    assert one.cert.serial_number != two.cert.serial_number  # one per join
    assert one.key_pem != two.key_pem
    life = one.cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=590) < life <= dt.timedelta(seconds=600)
    subject = one.cert.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        join.JOINERS_GROUP
    ]
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "taichu:join:worker-a:01234567"
    )
    usages = one.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    kubeconfig = join.bootstrap_kubeconfig(ca, one, "https://10.0.0.1:6443", "c")
    assert "https://10.0.0.1:6443" in kubeconfig and "client-key-data" in kubeconfig


def test_join_rbac_grants_the_joiners_only_the_bootstrap_roles() -> None:
    bindings = join.join_rbac()
    assert {b["roleRef"]["name"] for b in bindings} == {
        "system:node-bootstrapper",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
    }
    assert all(
        b["subjects"]
        == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": join.JOINERS_GROUP}]
        for b in bindings
    )


def test_a_joining_kubelet_bootstraps() -> None:
    argv = C.kubelet_argv(node_name="w", address="10.0.0.2", bootstrap=True)
    assert f"--bootstrap-kubeconfig={C.BOOTSTRAP_KUBECONFIG}" in argv
    assert f"--cert-dir={C.KUBELET_CERT_DIR}" in argv
    assert f"--kubeconfig={C.kubeconfig_path('kubelet')}" in argv
    plain = C.kubelet_argv(node_name="w", address="10.0.0.2")
    assert not any(a.startswith("--bootstrap-kubeconfig") for a in plain)


def test_a_drain_leaves_daemonset_and_mirror_pods() -> None:
    def pod(**meta: object) -> dict[str, object]:
        return {"metadata": {"name": "p", "namespace": "n", **meta}}

    owned = [{"kind": "DaemonSet", "name": "agent", "controller": True}]
    assert skipped_by_drain(pod(ownerReferences=owned)) == "DaemonSet"
    mirror = {"kubernetes.io/config.mirror": "x"}
    assert skipped_by_drain(pod(annotations=mirror)) == "mirror pod"
    replica = [{"kind": "ReplicaSet", "name": "web-1", "controller": True}]
    assert skipped_by_drain(pod(ownerReferences=replica)) is None
    assert skipped_by_drain(pod()) is None
