"""The installer's steps up to the control plane on a real-node lab host, run directly
(tests/provision/direct.py), then its teardown: etcd healthy over TLS, the API server
ready, the controller manager working; every step rerun changes nothing; teardown leaves
nothing of the installer behind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from taichu.lab.binaries import default_root
from taichu.lab.ssh_hosts import SshHost
from taichu.provision.install import layout as L
from taichu.provision.install.pipeline import STEPS
from taichu.provision.install.teardown import teardown
from taichu.provision.pki import ClusterPki
from taichu.provision.plan import Step, StepFailed
from tests.provision.direct import open_bundle, partial_bundle, plan_for, run_steps
from tests.provision.test_create_lab import KUBECTL, ours
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.real_nodes]
CONTROL = [
    "etcd",
    "etcdctl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
]
UP_TO_CONTROL_PLANE = [
    s for s in STEPS if s.name in ("preflight", "distribute", "pki", "etcd", "control_plane")
]


def _teardown_step() -> Step:
    async def body(ctx: Any, node: Any) -> None:
        await teardown(ctx, node)

    return Step("teardown", "Tearing down", 1, lambda plan: plan.nodes, body)


async def test_control_plane_steps_rerun_and_teardown(tmp_path: Path, real_node_hosts: Any) -> None:
    (host,) = real_node_hosts(1)
    lab_bin = default_root() / "bin"
    files = {f"bin/{name}": lab_bin / name for name in CONTROL}
    bundle = open_bundle(partial_bundle(tmp_path, files))
    plan = plan_for([(host, "cp-1", "master")], bundle)
    pki = ClusterPki.create(plan)
    lines = await run_steps(plan, pki, UP_TO_CONTROL_PLANE)
    print("\n".join(lines))
    assert any("etcd healthy" in line for line in lines), lines
    assert any("kube-apiserver ready" in line for line in lines), lines
    assert "ok" in host.exec(f"{KUBECTL} get --raw=/readyz").stdout
    assert host.exec(f"{L.SUPERVISOR} status etcd").stdout.startswith("running")
    assert host.exec(f"stat -c %a {L.PKI}/apiserver.key").stdout.strip() == "600"
    pid = host.exec(f"cat {L.RUN}/kube-apiserver.pid").stdout.split()[0]

    # A rerun (the platform died mid-way): nothing copied again, nothing restarted.
    again = await run_steps(plan, pki, UP_TO_CONTROL_PLANE)
    assert any("0 files copied, 6 already there" in x for x in again), again
    assert not any("started" in x for x in again), again
    assert host.exec(f"cat {L.RUN}/kube-apiserver.pid").stdout.split()[0] == pid

    await run_steps(plan, pki, [_teardown_step()])
    assert ours(host) == []
    for path in (L.OPT, L.ETC, L.KUBERNETES, L.RUN):
        assert host.exec(f"test -e {path}", check=False).returncode != 0, path
    # A mount point of the host stays, emptied.
    assert host.exec(f"ls -A {L.ETCD_DATA} 2>/dev/null; true").stdout.strip() == ""


NODE_FILES = [
    *CONTROL,
    "kubelet",
    "kube-proxy",
    "containerd",
    "ctr",
    "containerd-shim-runc-v2",
    "flanneld",
    "taichu-apilb",
]


def node_bundle(tmp_path: Path) -> Any:
    """Every file a node needs (CoreDNS aside: its image comes with the real bundle)."""
    lab_bin = default_root() / "bin"
    files = {f"bin/{name}": lab_bin / name for name in NODE_FILES}
    files["bin/runc"] = Path("/usr/sbin/runc")
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        files[f"cni/{plugin}"] = Path("/usr/lib/cni") / plugin
    images = (
        ("registry.k8s.io/pause:3.10", "sandbox", ("/bin/sleep", "1000000")),
        ("docker.io/library/busybox:1.36", "verify", ("/bin/sh",)),
    )
    return open_bundle(partial_bundle(tmp_path, files, images))


def lease_renewed(host: SshHost, node: str) -> str:
    """The node's lease renewal time; "" while the kubelet has not made its lease yet."""
    done = host.exec(
        f"{KUBECTL} -n kube-node-lease get lease {node} -o jsonpath='{{.spec.renewTime}}'",
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.mark.skipif(
    not all((default_root() / "bin" / n).exists() for n in NODE_FILES),
    reason="the node binaries are not built yet (scripts/lab-build.sh --with-node)",
)
async def test_three_masters_and_a_worker_survive_one_api_server_down(
    tmp_path: Path, real_node_hosts: Any
) -> None:
    hosts = real_node_hosts(4)
    roles = [("m-1", "master"), ("m-2", "master"), ("m-3", "master"), ("w-1", "worker")]
    plan = plan_for(
        [(h, n, r) for h, (n, r) in zip(hosts, roles, strict=True)], node_bundle(tmp_path)
    )
    steps = [s for s in STEPS if s.name not in ("dns", "verify")]  # no CoreDNS image here
    lines = await run_steps(plan, ClusterPki.create(plan), steps)
    assert any("taichu-apilb started" in x and x.startswith("[w-1]") for x in lines), lines
    members = (
        hosts[0]
        .exec(
            f"{L.BIN}/etcdctl --endpoints=https://127.0.0.1:2379 --cacert={L.ETCD_PKI}/ca.crt "
            f"--cert={L.ETCD_PKI}/healthcheck-client.crt --key={L.ETCD_PKI}/healthcheck-client.key "
            "member list"
        )
        .stdout
    )
    assert sorted(line.split(", ")[2] for line in members.splitlines()) == ["m-1", "m-2", "m-3"]
    # The worker's kubeconfig names its loopback balancer, not one master.
    assert (
        "https://127.0.0.1:6443" in hosts[3].exec("cat /etc/kubernetes/kubelet.kubeconfig").stdout
    )

    # Without the verify step nothing waited for the worker to register: its lease first.
    await wait_for(lambda: lease_renewed(hosts[1], "w-1"), timeout=120)
    # m-1's API server down (the one a worker would use without the balancer): the API
    # answers on the others and the worker keeps renewing its lease through them.
    hosts[0].exec(f"{L.SUPERVISOR} stop kube-apiserver")
    before = lease_renewed(hosts[1], "w-1")
    assert before, "w-1's lease is gone"
    await wait_for(lambda: lease_renewed(hosts[1], "w-1"), lambda t: t != before, timeout=60)
    assert "ok" in hosts[2].exec(f"{KUBECTL} get --raw=/readyz").stdout
    assert "Ready" in hosts[1].exec(f"{KUBECTL} get node w-1").stdout


async def test_preflight_names_what_is_wrong_and_touches_nothing(
    tmp_path: Path, ssh_hosts: list[SshHost]
) -> None:
    host = ssh_hosts[0]
    lab_bin = default_root() / "bin"
    root = partial_bundle(tmp_path, {"bin/etcd": lab_bin / "etcd"})
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**manifest, "arch": "arm64"}))
    plan = plan_for([(host, "m-1", "master")], open_bundle(root))
    wrong = replace(plan.nodes[0], address="192.0.2.77")  # not an address of the machine
    plan = replace(plan, nodes=(wrong,))
    listing = f"ls -AR {L.OPT} {L.ETC} {L.KUBERNETES} 2>/dev/null; true"
    before = host.exec(listing).stdout  # a shared host: other tests' files may be there
    with pytest.raises(StepFailed) as failed:
        await run_steps(plan, ClusterPki.create(plan), [STEPS[0]])
    message = failed.value.message
    assert failed.value.node == wrong and failed.value.step == "Checking the machines"
    assert "the machine is x86_64, the artifact is for arm64" in message, message
    assert "no interface carries the machine's address 192.0.2.77" in message, message
    assert host.exec(listing).stdout == before
